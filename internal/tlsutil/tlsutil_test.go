package tlsutil

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

// The generated certificate names the given hosts plus localhost and
// 127.0.0.1 (0.0.0.0 is no name), is a P-256 server certificate, and is
// generated once: a second call reuses the pair.
func TestSelfSignedGeneratedOnceWithNames(t *testing.T) {
	dir := t.TempDir()
	cert, key, created, err := LoadOrCreateSelfSigned(dir, []string{"gate.example", "10.0.0.5", "0.0.0.0"})
	if err != nil || !created {
		t.Fatalf("first call: created=%v %v", created, err)
	}
	b, _ := os.ReadFile(cert)
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.DNSNames, ",") != "gate.example,localhost" {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if strings.Join(ips, ",") != "10.0.0.5,127.0.0.1" {
		t.Errorf("IP addresses %v", ips)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || c.NotAfter.Sub(c.NotBefore) < 10*365*24*time.Hour {
		t.Errorf("algorithm %v, valid %v..%v", c.PublicKeyAlgorithm, c.NotBefore, c.NotAfter)
	}
	if err := c.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	st, _ := os.Stat(key)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	fp, _ := CertFileFingerprint(cert)
	if _, _, created, err := LoadOrCreateSelfSigned(dir, nil); err != nil || created {
		t.Fatalf("second call: created=%v %v", created, err)
	}
	if again, _ := CertFileFingerprint(cert); again != fp {
		t.Fatal("second call replaced the certificate")
	}
	os.Remove(key)
	if _, _, _, err := LoadOrCreateSelfSigned(dir, nil); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("certificate without key: %v", err)
	}
}

func TestClientConfigOptions(t *testing.T) {
	dir := t.TempDir()
	cert, _, _, err := LoadOrCreateSelfSigned(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := CertFileFingerprint(cert)
	if _, err := ClientConfig(ClientOptions{CAFile: cert, Pin: fp}); err == nil {
		t.Error("CA file and pin together accepted")
	}
	if _, err := ClientConfig(ClientOptions{Pin: "SHA256:short"}); err == nil {
		t.Error("malformed pin accepted")
	}
	if _, err := ClientConfig(ClientOptions{CertFile: cert}); err == nil {
		t.Error("client certificate without key accepted")
	}
	c, err := ClientConfig(ClientOptions{Pin: fp})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cert)
	blk, _ := pem.Decode(b)
	if err := c.VerifyPeerCertificate([][]byte{blk.Bytes}, nil); err != nil {
		t.Errorf("pinned certificate refused: %v", err)
	}
	if err := c.VerifyPeerCertificate([][]byte{append([]byte{0}, blk.Bytes...)}, nil); err != ErrPinMismatch {
		t.Errorf("other certificate: %v", err)
	}
	if got := SANHosts("a:1", "b:2", "a:3", "[::1]:4", ":5", "bad"); strings.Join(got, ",") != "::1,a,b" {
		t.Errorf("SANHosts %v", got)
	}
}

// ParsePin takes exactly what Fingerprint prints and never panics.
func FuzzParsePin(f *testing.F) {
	f.Add(Fingerprint([]byte("certificate")))
	f.Add("SHA256:")
	f.Add("sha256:AAAA")
	f.Add("SHA256:" + strings.Repeat("A", 44))
	f.Fuzz(func(t *testing.T, pin string) {
		sum, err := ParsePin(pin)
		if err == nil && (len(sum) != 32 || Fingerprint(nil)[:7] != pin[:7]) {
			t.Fatalf("%q parsed to %d bytes", pin, len(sum))
		}
	})
}
