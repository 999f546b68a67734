package testpeer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
)

func loadPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	return pool
}

func leaf(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("certificate and key do not load as a pair: %v", err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMakeCerts: the CA-signed certificate verifies for both host forms a
// camera URL may use; the self-signed one verifies for neither.
func TestMakeCerts(t *testing.T) {
	t.Parallel()
	c := MakeCerts(t)
	pool := loadPool(t, c.CAFile)
	signed := leaf(t, c.CertFile, c.KeyFile)
	self := leaf(t, c.SelfSignedCertFile, c.SelfSignedKeyFile)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := signed.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("CA-signed certificate for %s: %v", host, err)
		}
		_, err := self.Verify(x509.VerifyOptions{DNSName: host, Roots: pool})
		if !errors.As(err, new(x509.UnknownAuthorityError)) {
			t.Errorf("self-signed certificate for %s: %v, want an unknown authority", host, err)
		}
	}
	if _, err := signed.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: pool}); !errors.As(err, new(x509.HostnameError)) {
		t.Errorf("CA-signed certificate for example.com: %v, want a host name error", err)
	}
	for _, key := range []string{c.KeyFile, c.SelfSignedKeyFile} {
		fi, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", key, fi.Mode().Perm())
		}
	}
	if again := MakeCerts(t); again.CAFile == c.CAFile {
		t.Errorf("a second MakeCerts reused %s", c.CAFile)
	}
}
