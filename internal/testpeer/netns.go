package testpeer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Namespace is a network namespace joined to the root namespace by a veth
// pair, so a client inside it reaches the host over a non-loopback address.
// The two ends are 10.200.N.1/30 (host side, root namespace) and
// 10.200.N.2/30 (inside). These are the only non-loopback addresses tests
// may talk to.
type Namespace struct {
	name   string // "rgtN", also the prefix of the veth names
	hostIP string
	nsIP   string
}

// NetNS creates a namespace rgtN with a veth pair (rgtNh in the root
// namespace, rgtNp inside), addresses on both ends, both ends and lo up, and
// registers a cleanup that deletes them. It needs root and iproute2's ip; it
// fails the test otherwise. A server the namespace must reach listens on
// HostIP (or 0.0.0.0).
func NetNS(t testing.TB) *Namespace {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("testpeer: NetNS needs root (network namespaces), running as uid %d", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("testpeer: NetNS needs ip (Debian package iproute2): %v", err)
	}
	used := usedSubnets(t)

	// The namespace name is the lock: `ip netns add` fails if another test
	// (in this or another process) holds the index.
	start := rand.IntN(256)
	for i := range 256 {
		n := (start + i) % 256
		if used[n] {
			continue
		}
		ns := &Namespace{
			name:   fmt.Sprintf("rgt%d", n),
			hostIP: fmt.Sprintf("10.200.%d.1", n),
			nsIP:   fmt.Sprintf("10.200.%d.2", n),
		}
		if _, err := runIP("netns", "add", ns.name); err != nil {
			continue
		}
		t.Cleanup(ns.remove)
		if err := ns.setup(); err != nil {
			t.Fatalf("testpeer: NetNS %s: %v", ns.name, err)
		}
		return ns
	}
	t.Fatalf("testpeer: NetNS: no free rgtN namespace / 10.200.N.0/30 subnet")
	return nil
}

func (ns *Namespace) hostVeth() string { return ns.name + "h" }
func (ns *Namespace) peerVeth() string { return ns.name + "p" }

func (ns *Namespace) setup() error {
	steps := [][]string{
		{"link", "add", ns.hostVeth(), "type", "veth", "peer", "name", ns.peerVeth(), "netns", ns.name},
		{"addr", "add", ns.hostIP + "/30", "dev", ns.hostVeth()},
		{"link", "set", ns.hostVeth(), "up"},
		{"-n", ns.name, "addr", "add", ns.nsIP + "/30", "dev", ns.peerVeth()},
		{"-n", ns.name, "link", "set", ns.peerVeth(), "up"},
		{"-n", ns.name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if _, err := runIP(s...); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the host veth (which takes its peer along) and the
// namespace; errors are ignored so a half-made namespace is removed too.
func (ns *Namespace) remove() {
	_, _ = runIP("link", "del", ns.hostVeth())
	_, _ = runIP("netns", "del", ns.name)
}

// SetMTU sets the MTU of both ends of the veth pair, e.g. to stand for a
// tunnel or a VPN between the server and a reader.
func (ns *Namespace) SetMTU(t testing.TB, mtu int) {
	t.Helper()
	m := fmt.Sprint(mtu)
	for _, args := range [][]string{
		{"link", "set", "dev", ns.hostVeth(), "mtu", m},
		{"-n", ns.name, "link", "set", "dev", ns.peerVeth(), "mtu", m},
	} {
		if _, err := runIP(args...); err != nil {
			t.Fatalf("testpeer: %v", err)
		}
	}
}

// Name is the namespace's name, as `ip netns` shows it.
func (ns *Namespace) Name() string { return ns.name }

// HostIP is the address of the root-namespace end of the veth pair: what a
// client inside the namespace dials.
func (ns *Namespace) HostIP() string { return ns.hostIP }

// NSIP is the address of the end inside the namespace: what a server sees as
// the client's address.
func (ns *Namespace) NSIP() string { return ns.nsIP }

// Command is exec.CommandContext for `ip netns exec NAME name args...`, a
// program running inside the namespace.
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
	cmd.SysProcAttr = childSysProcAttr()
	return cmd
}

func runIP(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// usedSubnets returns the N of every 10.200.N.x address already on this
// host's interfaces, so a new pair never clashes with an existing route.
func usedSubnets(t testing.TB) map[int]bool {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("testpeer: NetNS: list addresses: %v", err)
	}
	used := map[int]bool{}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == 10 && ip4[1] == 200 {
			used[int(ip4[2])] = true
		}
	}
	return used
}
