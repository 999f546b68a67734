package testpeer

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// echoServer is a plaintext TCP server that sends back what it reads.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// tlsEcho sends a line through a TLS connection to port and reads it back.
func tlsEcho(port int, cfg *tls.Config) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("OPTIONS * RTSP/1.0\r\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo " + strconv.Quote(string(got)))
	}
	return nil
}

// TestStunnel: stunnel serves the CA-signed certificate, verifiable for
// localhost and 127.0.0.1, and forwards plaintext to the target; cleanup
// stops it.
func TestStunnel(t *testing.T) {
	t.Parallel()
	certs := MakeCerts(t)
	target := echoServer(t)
	pool := loadPool(t, certs.CAFile)
	var port int
	t.Run("running", func(t *testing.T) {
		port = StartStunnel(t, StunnelOptions{Target: target, CertFile: certs.CertFile, KeyFile: certs.KeyFile})
		for _, host := range []string{"localhost", "127.0.0.1"} {
			if err := tlsEcho(port, &tls.Config{RootCAs: pool, ServerName: host}); err != nil {
				t.Errorf("verified as %s: %v", host, err)
			}
		}
		if err := tlsEcho(port, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}); !errors.As(err, new(*tls.CertificateVerificationError)) {
			t.Errorf("without the CA: %v, want a verification error", err)
		}
	})
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		c.Close()
		t.Errorf("stunnel still listens on %d after its test's cleanup", port)
	}
}

// TestStunnelSelfSigned: the self-signed certificate fails verification and
// works without it, like rtsps:// and rtspx:// against a stock camera.
func TestStunnelSelfSigned(t *testing.T) {
	t.Parallel()
	certs := MakeCerts(t)
	port := StartStunnel(t, StunnelOptions{Target: echoServer(t), CertFile: certs.SelfSignedCertFile, KeyFile: certs.SelfSignedKeyFile})
	err := tlsEcho(port, &tls.Config{RootCAs: loadPool(t, certs.CAFile), ServerName: "127.0.0.1"})
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("verified: %v, want an unknown authority", err)
	}
	if err := tlsEcho(port, &tls.Config{InsecureSkipVerify: true}); err != nil { //nolint:gosec // the rtspx:// case
		t.Errorf("without verification: %v", err)
	}
}
