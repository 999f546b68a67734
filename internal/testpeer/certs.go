package testpeer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are PEM files of a test PKI in a t.TempDir(). Both server
// certificates name DNS localhost and IP 127.0.0.1, so a client can verify
// either form of the host.
type Certs struct {
	// CAFile is the test CA's certificate (for SSL_CERT_FILE or a pool).
	CAFile string
	// CertFile and KeyFile are a server certificate signed by the CA and
	// its key (PKCS #8).
	CertFile, KeyFile string
	// SelfSignedCertFile and SelfSignedKeyFile are a server certificate
	// that signs itself, as most cameras ship: no CA vouches for it.
	SelfSignedCertFile, SelfSignedKeyFile string
}

// certLifetime covers any test run; NotBefore is set back as far, for clock
// skew between the test and the peers that check the dates.
const certLifetime = 24 * time.Hour

// MakeCerts makes a test CA, a server certificate it signs and a self-signed
// server certificate, all ECDSA P-256, and writes them as PEM files into a
// t.TempDir(). It needs no openssl.
func MakeCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	c := Certs{
		CAFile:             filepath.Join(dir, "ca.pem"),
		CertFile:           filepath.Join(dir, "server.pem"),
		KeyFile:            filepath.Join(dir, "server-key.pem"),
		SelfSignedCertFile: filepath.Join(dir, "selfsigned.pem"),
		SelfSignedKeyFile:  filepath.Join(dir, "selfsigned-key.pem"),
	}

	caKey := newKey(t)
	caTmpl := certTemplate(t, "rtspgate test CA")
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	caDER := createCert(t, caTmpl, caTmpl, caKey, caKey)
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("testpeer: parse the test CA: %v", err)
	}
	writePEM(t, c.CAFile, "CERTIFICATE", caDER, 0o644)

	srvKey := newKey(t)
	writePEM(t, c.CertFile, "CERTIFICATE", createCert(t, serverTemplate(t, "localhost"), caCert, srvKey, caKey), 0o644)
	writeKey(t, c.KeyFile, srvKey)

	selfKey := newKey(t)
	self := serverTemplate(t, "localhost (self-signed)")
	writePEM(t, c.SelfSignedCertFile, "CERTIFICATE", createCert(t, self, self, selfKey, selfKey), 0o644)
	writeKey(t, c.SelfSignedKeyFile, selfKey)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpeer: make a P-256 key: %v", err)
	}
	return k
}

func certTemplate(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	// a random serial: two CAs of parallel tests must not look alike
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testpeer: make a serial number: %v", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"rtspgate tests"}},
		NotBefore:    now.Add(-certLifetime),
		NotAfter:     now.Add(certLifetime),
	}
}

// serverTemplate names the hosts in SANs only: Go ignores the common name.
func serverTemplate(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	tmpl := certTemplate(t, cn)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.BasicConstraintsValid = true
	tmpl.DNSNames = []string{"localhost"}
	tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	return tmpl
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatalf("testpeer: make certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return der
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpeer: encode key: %v", err)
	}
	writePEM(t, path, "PRIVATE KEY", der, 0o600)
}

func writePEM(t testing.TB, path, typ string, der []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), perm); err != nil {
		t.Fatalf("testpeer: write %s: %v", path, err)
	}
}
