package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// websockifyBin is Debian's; a pip copy on a pyenv PATH may lack its
	// dependencies.
	websockifyBin          = "/usr/bin/websockify"
	websockifyPackage      = "websockify"
	websockifyReadyTimeout = 10 * time.Second
	// websockifyPortTries: FreePort's port may be taken before websockify
	// binds it; a few new ports cover that race.
	websockifyPortTries = 3
)

// WebsockifyOptions configures StartWebsockify.
type WebsockifyOptions struct {
	// Target is host:port of the TCP server behind the WebSocket, such as
	// a camera's 127.0.0.1:PORT. Required.
	Target string
	// User and Password, when both are set, make websockify refuse an
	// upgrade without HTTP Basic credentials (its BasicHTTPAuth plugin):
	// 401 with a Basic challenge when they are missing or wrong.
	User, Password string
}

// StartWebsockify runs Debian's websockify (package websockify) on a free
// port of 127.0.0.1, relaying each WebSocket to a new TCP connection to
// opt.Target, waits until it accepts connections and returns its URL,
// ws://127.0.0.1:PORT/ (any path works). Clients must offer the subprotocol
// "binary" (first, if they offer several): websockify refuses the upgrade
// otherwise. The test's cleanup stops it and logs its stderr if the test
// failed. A missing websockify fails the test with the package name.
func StartWebsockify(t testing.TB, opt WebsockifyOptions) string {
	t.Helper()
	if opt.Target == "" {
		t.Fatalf("testpeer: WebsockifyOptions.Target is required")
	}
	if (opt.User == "") != (opt.Password == "") {
		t.Fatalf("testpeer: WebsockifyOptions needs both User and Password, or neither")
	}
	if _, err := os.Stat(websockifyBin); err != nil {
		t.Fatalf("testpeer: websockify needs %s (Debian package %s): %v", websockifyBin, websockifyPackage, err)
	}
	var args []string
	if opt.User != "" {
		args = append(args, "--auth-plugin", "BasicHTTPAuth", "--auth-source", opt.User+":"+opt.Password)
	}

	stderr := newTailBuffer(64 << 10)
	for try := 1; ; try++ {
		port := FreePort(t)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		fmt.Fprintf(stderr, "--- websockify %s -> %s at %s\n", addr, opt.Target, time.Now().Format(time.TimeOnly))
		cmd := exec.Command(websockifyBin, append(args, addr, opt.Target)...)
		p, err := startProcess(cmd, nil, stderr)
		if err != nil {
			t.Fatalf("testpeer: websockify: %v (Debian package %s)", err, websockifyPackage)
		}
		err = waitListening(p, addr, websockifyReadyTimeout)
		if err == nil {
			t.Cleanup(func() {
				if p.exitedOnItsOwn() {
					t.Errorf("testpeer: websockify on %s exited during the test: %v", addr, p.Err())
				}
				p.Stop()
				if t.Failed() {
					t.Logf("testpeer: websockify on %s stderr:\n%s", addr, lastLines(stderr.String(), 60))
				}
			})
			return "ws://" + addr + "/"
		}
		p.Stop()
		msg := lastLines(stderr.String(), 30)
		if strings.Contains(msg, "Address already in use") && try < websockifyPortTries {
			continue
		}
		t.Fatalf("testpeer: websockify on %s: %v:\n%s", addr, err, msg)
	}
}

// waitListening polls addr until it accepts a TCP connection, p exits or d
// passes. websockify prints its settings before it binds, so its output
// cannot tell when it is ready.
func waitListening(p *Process, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("exited before it listened (status %d)", p.exitCode())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening after %v", d)
		}
	}
}
