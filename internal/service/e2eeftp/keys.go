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
	"os"
	"strings"

	"gatehouse/internal/keyfile"
)

// Key file names, as the original uses them (docs/e2eeftp.md, "Key files").
const (
	ServerKeyFile     = "server_id.key"          // PEM PKCS#8 Ed25519 private key
	KnownServerFile   = "known_server.pub"       // PEM SubjectPublicKeyInfo Ed25519 public key
	AuthorizedFile    = "authorized_clients.pub" // one base64 raw public key per line
	ClientKeyFile     = "client_id.key"          // PEM PKCS#8 Ed25519 private key
	maxKeyFile        = 64 << 10
	maxAuthorizedFile = 4 << 20
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

func readSmall(path string, max int64) ([]byte, error) { return keyfile.ReadSmall(path, max) }

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

// keyComments is implemented by the key sets that keep the comment
// recorded with each key (SharedKeys, AuthorizedKeys): the server names a
// client by its fingerprint and that comment.
type keyComments interface {
	Comment(id [32]byte) string
}

// StaticKeys is a fixed KeySet (tests, embedding).
type StaticKeys map[[32]byte]bool

func (s StaticKeys) Contains(id [32]byte) bool { return s[id] }

// AuthorizedKeys is authorized_clients.pub, re-read when it changes
// (keyfile.Watched: on a change of size or mtime, and at least once a
// second), so edits take effect without a restart as in the original
// (which re-read it on every connection). A missing file authorises nobody.
type AuthorizedKeys struct {
	w keyfile.Watched[*authorizedSet]
}

// authorizedSet is one parse of the file: the keys and their comments.
type authorizedSet struct {
	keys     map[[32]byte]bool
	comments map[[32]byte]string
}

// NewAuthorizedKeys watches path; warn (may be nil) receives bad lines.
func NewAuthorizedKeys(path string, warn func(msg string, args ...any)) *AuthorizedKeys {
	return &AuthorizedKeys{w: keyfile.Watched[*authorizedSet]{Path: path, Max: maxAuthorizedFile, Warn: warn,
		Parse: func(b []byte) (*authorizedSet, []string) {
			entries, bad := ParseAuthorized(bytes.NewReader(b))
			set := &authorizedSet{keys: make(map[[32]byte]bool, len(entries)), comments: make(map[[32]byte]string, len(entries))}
			for _, e := range entries {
				set.keys[e.Key] = true
				set.comments[e.Key] = e.Comment
			}
			return set, bad
		}}}
}

// Contains reports whether id is authorised now.
func (a *AuthorizedKeys) Contains(id [32]byte) bool {
	set := a.w.Get()
	return set != nil && set.keys[id]
}

// Comment is the comment above an authorised key in the file ("" if none).
func (a *AuthorizedKeys) Comment(id [32]byte) string {
	if set := a.w.Get(); set != nil {
		return set.comments[id]
	}
	return ""
}

// Len is the number of keys currently authorised.
func (a *AuthorizedKeys) Len() int {
	if set := a.w.Get(); set != nil {
		return len(set.keys)
	}
	return 0
}

// entries returns the file's keys with their comments, and false when the
// file is missing or unreadable.
func (a *AuthorizedKeys) entries() (map[[32]byte]string, bool) {
	set := a.w.Get()
	if set == nil {
		return nil, false
	}
	out := make(map[[32]byte]string, len(set.comments))
	for k, c := range set.comments {
		out[k] = c
	}
	return out, true
}
