// Package tlsutil holds the TLS parts the daemon and the Go clients share:
// the server certificate (configured files or a self-signed one generated
// into the data directory), reloadable on SIGHUP; the certificate
// fingerprint in the one form Gatehouse prints and pins ("SHA256:" +
// unpadded standard base64 of the SHA-256 of the DER certificate, like
// OpenSSH); and client configurations (CA file, pin, client certificate).
package tlsutil

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fingerprint is "SHA256:" + the unpadded standard base64 of the SHA-256
// of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// SelfSignedDir is the folder under the data directory that holds the
// generated certificate.
const SelfSignedDir = "tls"

// Self-signed file names inside SelfSignedDir.
const (
	SelfSignedCert = "selfsigned.crt"
	SelfSignedKey  = "selfsigned.key"
)

// SelfSignedValidity is how long a generated certificate is valid.
const SelfSignedValidity = 20 * 365 * 24 * time.Hour

// SelfSignedPaths returns the certificate and key paths of the generated
// certificate under dataDir.
func SelfSignedPaths(dataDir string) (cert, key string) {
	d := filepath.Join(dataDir, SelfSignedDir)
	return filepath.Join(d, SelfSignedCert), filepath.Join(d, SelfSignedKey)
}

// LoadOrCreateSelfSigned returns the paths of the self-signed certificate
// under dataDir, generating it first (ECDSA P-256, SANs hosts + localhost +
// 127.0.0.1, key file 0600) when neither file exists. created says whether
// it was generated now. An existing pair is reused as is.
func LoadOrCreateSelfSigned(dataDir string, hosts []string) (certPath, keyPath string, created bool, err error) {
	certPath, keyPath = SelfSignedPaths(dataDir)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		return certPath, keyPath, false, nil
	case cerr == nil || kerr == nil:
		return "", "", false, fmt.Errorf("tls: only one of %s and %s exists; remove it to generate a new pair", certPath, keyPath)
	case !errors.Is(cerr, os.ErrNotExist):
		return "", "", false, cerr
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o750); err != nil {
		return "", "", false, err
	}
	certPEM, keyPEM, err := GenerateSelfSigned(hosts, SelfSignedValidity)
	if err != nil {
		return "", "", false, err
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", false, err
	}
	return certPath, keyPath, true, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// GenerateSelfSigned makes a self-signed ECDSA P-256 server certificate
// for hosts (plus localhost and 127.0.0.1), PEM encoded.
func GenerateSelfSigned(hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "gatehouse", Organization: []string{"Gatehouse self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA flag lets OpenSSL (socat's cafile=) take the certificate as
		// its own trust anchor; Go accepts it either way.
		IsCA: true,
	}
	seen := map[string]bool{}
	for _, h := range append(append([]string{}, hosts...), "localhost", "127.0.0.1") {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// CertFileFingerprint reads a PEM certificate file and returns the
// fingerprint of its first certificate.
func CertFileFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("tls: %s: no PEM certificate", path)
		}
		if blk.Type == "CERTIFICATE" {
			return Fingerprint(blk.Bytes), nil
		}
	}
}

// Cert is a server certificate read from a certificate and a key file,
// served through tls.Config.GetCertificate so Reload can swap it while
// the listener runs.
type Cert struct {
	CertFile, KeyFile string

	mu   sync.RWMutex
	cert *tls.Certificate
	fp   string
}

// LoadCert reads certFile and keyFile.
func LoadCert(certFile, keyFile string) (*Cert, error) {
	c := &Cert{CertFile: certFile, KeyFile: keyFile}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload re-reads the files; on error the certificate in use stays.
func (c *Cert) Reload() (fingerprint string, err error) {
	tc, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return "", fmt.Errorf("tls: certificate %s / key %s: %w", c.CertFile, c.KeyFile, err)
	}
	fp := Fingerprint(tc.Certificate[0])
	c.mu.Lock()
	c.cert, c.fp = &tc, fp
	c.mu.Unlock()
	return fp, nil
}

// Fingerprint is the fingerprint of the certificate in use.
func (c *Cert) Fingerprint() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.fp
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cert, nil
}

// ServerConfig is the TLS 1.3 server configuration for cert; with a
// clientCA file, every client must present a certificate that chains to
// one of its certificates (mutual TLS).
func ServerConfig(cert *Cert, clientCAFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: cert.GetCertificate}
	if clientCAFile != "" {
		pool, err := LoadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadPool reads a PEM file of one or more certificates.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls: %s: no PEM certificate", path)
	}
	return pool, nil
}

// ClientOptions describe how a Go client verifies the server and whether
// it presents a certificate.
type ClientOptions struct {
	CAFile     string // PEM certificates to trust (the server's own self-signed certificate works)
	Pin        string // "SHA256:…" of the server certificate; chain and name are not checked then
	CertFile   string // client certificate for mutual TLS
	KeyFile    string
	ServerName string // name checked against the certificate with CAFile (default: the host dialled)
}

// ErrPinMismatch: the server's certificate is not the pinned one.
var ErrPinMismatch = errors.New("tls: server certificate does not match the pinned fingerprint")

// ClientSessions is how many servers' TLS sessions a client configuration
// keeps for resumption.
const ClientSessions = 64

// ClientConfig builds a TLS 1.3 client configuration. Without CAFile and
// Pin the system roots verify the server.
//
// The configuration keeps the sessions its connections open (a cache of
// its own, ClientSessions servers), so a client that connects again, as
// backup and e2eeftp do for every request, resumes: the server neither
// signs nor sends its certificate again, and the client does not verify
// it again (docs/performance.md). A resumed session was verified, by
// chain or pin, when it was made, and only the server holding its ticket
// key can resume it; the cache is not shared with another configuration,
// so a different pin or CA never resumes a session this one verified.
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: o.ServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(ClientSessions)}
	if o.CAFile != "" && o.Pin != "" {
		return nil, errors.New("tls: give a CA file or a pin, not both")
	}
	if o.CAFile != "" {
		pool, err := LoadPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.Pin != "" {
		pin := strings.TrimSpace(o.Pin)
		if _, err := ParsePin(pin); err != nil {
			return nil, err
		}
		// The pin replaces chain and name verification: the connection is
		// accepted exactly when the leaf certificate is the pinned one.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || Fingerprint(raw[0]) != pin {
				return ErrPinMismatch
			}
			return nil
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("tls: a client certificate needs both the certificate and the key file")
	}
	if o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// ParsePin checks a "SHA256:…" fingerprint and returns its 32 bytes.
func ParsePin(pin string) ([]byte, error) {
	b64, ok := strings.CutPrefix(pin, "SHA256:")
	if ok {
		if sum, err := base64.RawStdEncoding.DecodeString(b64); err == nil && len(sum) == sha256.Size {
			return sum, nil
		}
	}
	return nil, fmt.Errorf("tls: pin %q: want SHA256: and 43 base64 characters, as 'gatehouse keys tls show' prints", pin)
}

// PeerCommonName returns the subject common name of the verified client
// certificate in st, or false when the peer presented none that verified.
func PeerCommonName(st *tls.ConnectionState) (string, bool) {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return "", false
	}
	return st.VerifiedChains[0][0].Subject.CommonName, true
}

// SANHosts returns the host parts of addrs (host:port), sorted, without
// duplicates or empty hosts.
func SANHosts(addrs ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err != nil || h == "" || seen[h] {
			continue
		}
		seen[h] = true
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Client runs the client side of a TLS handshake on nc, dialled to addr
// (host:port): without a ServerName in cfg the host is verified. On
// failure nc is closed. ctx bounds the handshake.
func Client(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config) (*tls.Conn, error) {
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	return tc, nil
}
