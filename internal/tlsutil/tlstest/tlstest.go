// Package tlstest makes a small certificate authority for TLS tests: a CA,
// a server certificate for 127.0.0.1 and client certificates with a chosen
// common name, as PEM files in a test's temporary folder.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/tlsutil"
)

// PKI is one CA with its server certificate.
type PKI struct {
	Dir               string
	CAFile            string // the CA certificate (PEM)
	CertFile, KeyFile string // the server's
	ServerFingerprint string
	caCert            *x509.Certificate
	caKey             *ecdsa.PrivateKey
	serverCert        *tlsutil.Cert
	seq               int64
}

// New makes a CA and a server certificate for 127.0.0.1 and localhost.
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir()}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.CAFile = p.write(t, "ca.crt", "CERTIFICATE", der)
	p.CertFile, p.KeyFile = p.issue(t, "server", "gatehouse test server", true)
	if p.serverCert, err = tlsutil.LoadCert(p.CertFile, p.KeyFile); err != nil {
		t.Fatal(err)
	}
	p.ServerFingerprint = p.serverCert.Fingerprint()
	return p
}

// Client issues a client certificate with common name cn and returns its
// files.
func (p *PKI) Client(t testing.TB, cn string) (certFile, keyFile string) {
	t.Helper()
	return p.issue(t, "client", cn, false)
}

// ServerConfig is the server's TLS configuration; with mtls, clients must
// present a certificate of this CA.
func (p *PKI) ServerConfig(t testing.TB, mtls bool) *tls.Config {
	t.Helper()
	ca := ""
	if mtls {
		ca = p.CAFile
	}
	cfg, err := tlsutil.ServerConfig(p.serverCert, ca)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ClientConfig trusts this CA; with cn != "" it presents a client
// certificate of that common name.
func (p *PKI) ClientConfig(t testing.TB, cn string) *tls.Config {
	t.Helper()
	o := tlsutil.ClientOptions{CAFile: p.CAFile}
	if cn != "" {
		o.CertFile, o.KeyFile = p.Client(t, cn)
	}
	cfg, err := tlsutil.ClientConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *PKI) issue(t testing.TB, kind, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	p.seq++
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.seq + 1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	name := kind + big.NewInt(p.seq).String()
	return p.write(t, name+".crt", "CERTIFICATE", der), p.write(t, name+".key", "PRIVATE KEY", kder)
}

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.Dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
