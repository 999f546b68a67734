package testpeer

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestNetNS(t *testing.T) {
	t.Parallel()
	// NetNS's cleanup (which runs before this one) removes the namespace
	// and the host veth.
	var name string
	t.Cleanup(func() {
		out, _ := exec.Command("ip", "netns", "list").Output()
		for _, f := range strings.Fields(string(out)) {
			if f == name {
				t.Errorf("namespace %s left behind", name)
			}
		}
		if exec.Command("ip", "link", "show", name+"h").Run() == nil {
			t.Errorf("veth %sh left behind", name)
		}
	})
	ns := NetNS(t)
	name = ns.Name()

	// A listener on the host side only: the client must come over the veth.
	l, err := net.Listen("tcp", net.JoinHostPort(ns.HostIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		peer, line string
		err        error
	}
	got := make(chan result, 1)
	go func() {
		_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		got <- result{peer: c.RemoteAddr().(*net.TCPAddr).IP.String(), line: line, err: err}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	cmd := ns.Command(ctx, "bash", "-c", `exec 3<>/dev/tcp/"$1"/"$2" && echo hello >&3`, "bash", ns.HostIP(), port)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("connect from %s: %v: %s", name, err, out)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.peer != ns.NSIP() || r.line != "hello\n" {
		t.Errorf("got %q from %s, want hello from %s", r.line, r.peer, ns.NSIP())
	}

	// Loopback inside the namespace is its own: the host's 127.0.0.1
	// listener is out of reach.
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	_, loPort, _ := net.SplitHostPort(lo.Addr().String())
	if err := ns.Command(ctx, "bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/"$1"`, "bash", loPort).Run(); err == nil {
		t.Errorf("host loopback reachable from namespace %s", name)
	}

}
