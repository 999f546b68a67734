package testpeer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	stunnelPackage      = "stunnel4"
	stunnelReadyTimeout = 10 * time.Second
	// stunnelBindTries: FreePort's port may be taken before stunnel binds it.
	stunnelBindTries = 5
	// stunnelReady is what stunnel logs once every service is bound.
	stunnelReady = "Accepting new connections"
)

// StunnelOptions configures a TLS front started by StartStunnel.
type StunnelOptions struct {
	// Target is the plaintext server's host:port, such as a camera's
	// "127.0.0.1:PORT".
	Target string
	// CertFile and KeyFile are the PEM certificate (chain) and key stunnel
	// presents, such as Certs.CertFile and Certs.KeyFile.
	CertFile, KeyFile string
}

// StartStunnel runs Debian's stunnel (package stunnel4) in the foreground as a
// TLS server on a free port of 127.0.0.1 that forwards each connection, in
// plaintext, to opt.Target. It waits until stunnel listens (at most 10 s) and
// returns the port; the test's cleanup stops it. A missing stunnel fails the
// test naming the package.
func StartStunnel(t testing.TB, opt StunnelOptions) int {
	t.Helper()
	if opt.Target == "" || opt.CertFile == "" || opt.KeyFile == "" {
		t.Fatalf("testpeer: StunnelOptions needs Target, CertFile and KeyFile")
	}
	for _, v := range []string{opt.Target, opt.CertFile, opt.KeyFile} {
		// a line break would start another option in stunnel's config
		if strings.ContainsAny(v, "\r\n") {
			t.Fatalf("testpeer: StunnelOptions value %q has a line break", v)
		}
	}
	bin, err := exec.LookPath("stunnel")
	if err != nil {
		if bin, err = exec.LookPath("stunnel4"); err != nil {
			t.Fatalf("testpeer: stunnel not found; install the Debian package %s: %v", stunnelPackage, err)
		}
	}

	dir := t.TempDir()
	var stderr *tailBuffer // the last try's
	var p *Process
	t.Cleanup(func() {
		if p == nil {
			return
		}
		if p.exitedOnItsOwn() {
			t.Errorf("testpeer: stunnel exited during the test: %v", p.Err())
		}
		p.Stop()
		if t.Failed() {
			t.Logf("testpeer: stunnel stderr:\n%s", stderr.String())
		}
	})
	for try := 1; ; try++ {
		port := FreePort(t)
		conf := filepath.Join(dir, fmt.Sprintf("stunnel-%d.conf", try))
		if err := os.WriteFile(conf, []byte(stunnelConfig(port, opt)), 0o600); err != nil {
			t.Fatalf("testpeer: write stunnel config: %v", err)
		}
		// a fresh buffer: an earlier try's bind error must not count again
		stderr = newTailBuffer(64 << 10)
		proc, err := startProcess(exec.Command(bin, conf), nil, stderr)
		if err != nil {
			t.Fatalf("testpeer: %v (Debian package %s)", err, stunnelPackage)
		}
		err = waitStunnel(proc, port, stderr)
		if err == nil {
			p = proc
			return port
		}
		proc.Stop()
		if errors.Is(err, errStunnelPortTaken) && try < stunnelBindTries {
			continue
		}
		t.Fatalf("testpeer: stunnel: %v:\n%s", err, lastLines(stderr.String(), 30))
	}
}

// stunnelConfig keeps stunnel in the foreground, without a pid file or
// syslog, so that the test owns it and its log goes to stderr only.
func stunnelConfig(port int, opt StunnelOptions) string {
	return strings.Join([]string{
		"; written by testpeer.StartStunnel",
		"foreground = yes",
		"pid =",
		"syslog = no",
		"debug = info",
		"[rtsps]",
		"accept = 127.0.0.1:" + strconv.Itoa(port),
		"connect = " + opt.Target,
		"cert = " + opt.CertFile,
		"key = " + opt.KeyFile,
		"",
	}, "\n")
}

var errStunnelPortTaken = errors.New("port taken")

// waitStunnel waits until stunnel logs that it accepts connections, or
// until a TCP connection to port works (in case a stunnel version words its
// log differently).
func waitStunnel(p *Process, port int, stderr *tailBuffer) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(stunnelReadyTimeout)
	for {
		select {
		case <-p.Done():
			if strings.Contains(stderr.String(), "Address already in use") {
				return errStunnelPortTaken
			}
			return fmt.Errorf("exited before listening (status %d)", p.exitCode())
		default:
		}
		if strings.Contains(stderr.String(), stunnelReady) {
			return nil
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %v", addr, stunnelReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
