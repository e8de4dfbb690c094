package e2eeftp

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
)

// Key file names, as the original uses them (docs/e2eeftp.md, "Key files").
const (
	ServerKeyFile      = "server_id.key"          // PEM PKCS#8 Ed25519 private key
	KnownServerFile    = "known_server.pub"       // PEM SubjectPublicKeyInfo Ed25519 public key
	AuthorizedFile     = "authorized_clients.pub" // one base64 raw public key per line
	ClientKeyFile      = "client_id.key"          // PEM PKCS#8 Ed25519 private key
	maxKeyFile         = 64 << 10
	maxAuthorizedFile  = 4 << 20
	authorizedMaxStale = time.Second
)

// MarshalPrivateKey encodes k as the original's PEM PKCS#8 file.
func MarshalPrivateKey(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes k as the original's PEM SubjectPublicKeyInfo file.
func MarshalPublicKey(k ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey decodes a PEM PKCS#8 Ed25519 private key.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("e2eeftp: no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("e2eeftp: private key is %T, not Ed25519", k)
	}
	return ek, nil
}

// ParsePublicKey decodes a PEM SubjectPublicKeyInfo Ed25519 public key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("e2eeftp: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("e2eeftp: public key is %T, not Ed25519", k)
	}
	return ek, nil
}

func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("e2eeftp: %s is larger than %d bytes", path, max)
	}
	return b, nil
}

// LoadPrivateKey reads a private key file. insecure reports that the file
// is readable or writable by group or others (the original wrote its keys
// with the umask, usually 0644).
func LoadPrivateKey(path string) (k ed25519.PrivateKey, insecure bool, err error) {
	b, err := readSmall(path, maxKeyFile)
	if err != nil {
		return nil, false, err
	}
	k, err = ParsePrivateKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		insecure = true
	}
	return k, insecure, nil
}

// LoadPublicKey reads a public key file (known_server.pub).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readSmall(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// AuthorizedLine is a key's line in authorized_clients.pub (no newline).
func AuthorizedLine(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// AuthorizedEntry is one key of authorized_clients.pub.
type AuthorizedEntry struct {
	Key     [32]byte
	Comment string // the '#' line right above the key, if any
	Line    int
}

// ParseAuthorized reads authorized_clients.pub: stripped lines, blank and
// '#' lines skipped, every other line standard base64 of 32 raw bytes. The
// original decoded non-strictly (dropping stray characters), so a mangled
// line could still authorise a key; here a line that is not exact base64
// of 32 bytes is skipped and reported in bad.
func ParseAuthorized(r io.Reader) (keys []AuthorizedEntry, bad []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	comment := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimFunc(sc.Text(), isPySpace)
		switch {
		case line == "":
			comment = ""
			continue
		case strings.HasPrefix(line, "#"):
			comment = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(line)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			bad = append(bad, fmt.Sprintf("line %d: not base64 of a 32-byte Ed25519 key", n))
			comment = ""
			continue
		}
		var e AuthorizedEntry
		copy(e.Key[:], raw)
		e.Comment, e.Line = comment, n
		keys = append(keys, e)
		comment = ""
	}
	if err := sc.Err(); err != nil {
		bad = append(bad, fmt.Sprintf("line too long or unreadable: %v", err))
	}
	return keys, bad
}

// KeySet decides whether a client identity may connect.
type KeySet interface {
	Contains(id [32]byte) bool
}

// StaticKeys is a fixed KeySet (tests, embedding).
type StaticKeys map[[32]byte]bool

func (s StaticKeys) Contains(id [32]byte) bool { return s[id] }

// AuthorizedKeys is authorized_clients.pub, re-read when it changes, so
// edits take effect without a restart as in the original (which re-read it
// on every connection). It is re-read when its size or mtime changes, and
// at least once a second so a same-size edit within one mtime tick is
// seen too. A missing file authorises nobody.
type AuthorizedKeys struct {
	path string
	warn func(msg string, args ...any)

	mu       sync.Mutex
	size     int64
	mtime    time.Time
	checked  time.Time
	loaded   bool
	keys     map[[32]byte]bool
	comments map[[32]byte]string
}

// NewAuthorizedKeys watches path; warn (may be nil) receives bad lines.
func NewAuthorizedKeys(path string, warn func(msg string, args ...any)) *AuthorizedKeys {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	return &AuthorizedKeys{path: path, warn: warn}
}

// Contains reports whether id is authorised now.
func (a *AuthorizedKeys) Contains(id [32]byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refresh()
	return a.keys[id]
}

// Len is the number of keys currently authorised.
func (a *AuthorizedKeys) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refresh()
	return len(a.keys)
}

func (a *AuthorizedKeys) refresh() {
	now := time.Now()
	st, err := os.Stat(a.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.warn("cannot stat authorized keys; authorising nobody", "path", a.path, "err", err)
		}
		a.keys, a.loaded = nil, false
		return
	}
	if a.loaded && st.Size() == a.size && st.ModTime().Equal(a.mtime) && now.Sub(a.checked) < authorizedMaxStale {
		return
	}
	b, err := readSmall(a.path, maxAuthorizedFile)
	if err != nil {
		a.warn("cannot read authorized keys; authorising nobody", "path", a.path, "err", err)
		a.keys, a.loaded = nil, false
		return
	}
	entries, bad := ParseAuthorized(bytes.NewReader(b))
	changed := !a.loaded || st.Size() != a.size || !st.ModTime().Equal(a.mtime)
	if changed {
		for _, m := range bad {
			a.warn("skipping invalid authorized key", "path", a.path, "where", m)
		}
	}
	keys := make(map[[32]byte]bool, len(entries))
	comments := make(map[[32]byte]string, len(entries))
	for _, e := range entries {
		keys[e.Key] = true
		comments[e.Key] = e.Comment
	}
	a.keys, a.comments, a.loaded, a.size, a.mtime, a.checked = keys, comments, true, st.Size(), st.ModTime(), now
}
