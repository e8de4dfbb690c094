package e2eeftp

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gatehouse/internal/fsutil"
)

// KeyDir is the server's key folder (<data>/e2eeftp): server_id.key,
// known_server.pub and authorized_clients.pub, as the original kept them
// in its working directory.
type KeyDir string

func (d KeyDir) ServerKey() string   { return filepath.Join(string(d), ServerKeyFile) }
func (d KeyDir) KnownServer() string { return filepath.Join(string(d), KnownServerFile) }
func (d KeyDir) Authorized() string  { return filepath.Join(string(d), AuthorizedFile) }

// ErrKeyExists: init would overwrite an existing server identity.
var ErrKeyExists = errors.New("e2eeftp: server identity already exists")

// Init creates the server identity (server_id.key 0600) and its public
// half (known_server.pub 0644). With force it replaces an existing one;
// otherwise an existing key is ErrKeyExists.
func (d KeyDir) Init(force bool) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		return nil, err
	}
	if _, err := os.Stat(d.ServerKey()); err == nil && !force {
		return nil, fmt.Errorf("%w: %s", ErrKeyExists, d.ServerKey())
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := d.writeServer(priv); err != nil {
		return nil, err
	}
	return priv, nil
}

func (d KeyDir) writeServer(priv ed25519.PrivateKey) error {
	pemPriv, err := MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	pemPub, err := MarshalPublicKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(d.ServerKey(), pemPriv, 0o600); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(d.KnownServer(), pemPub, 0o644)
}

// LoadOrInit loads the server identity, creating it when missing as the
// original's run() did. created reports a new key; insecure that the key
// file is open to group or others. known_server.pub is rewritten if it is
// missing or does not match the key.
func (d KeyDir) LoadOrInit() (priv ed25519.PrivateKey, created, insecure bool, err error) {
	priv, insecure, err = LoadPrivateKey(d.ServerKey())
	if errors.Is(err, fs.ErrNotExist) {
		priv, err = d.Init(false)
		return priv, err == nil, false, err
	}
	if err != nil {
		return nil, false, false, err
	}
	pub, perr := LoadPublicKey(d.KnownServer())
	if perr != nil || !pub.Equal(priv.Public()) {
		pemPub, err := MarshalPublicKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, false, false, err
		}
		if err := fsutil.WriteFileAtomic(d.KnownServer(), pemPub, 0o644); err != nil {
			return nil, false, false, err
		}
	}
	return priv, false, insecure, nil
}

// Authorize appends pub (with an optional comment line) to
// authorized_clients.pub, atomically. Adding a key already present is a
// no-op that reports false.
func (d KeyDir) Authorize(pub ed25519.PublicKey, comment string) (added bool, err error) {
	if len(pub) != ed25519.PublicKeySize {
		return false, errors.New("e2eeftp: not a 32-byte Ed25519 public key")
	}
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		return false, err
	}
	old, err := readSmall(d.Authorized(), maxAuthorizedFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	entries, _ := ParseAuthorized(bytes.NewReader(old))
	for _, e := range entries {
		if bytes.Equal(e.Key[:], pub) {
			return false, nil
		}
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	if comment = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, comment); comment != "" {
		b.WriteString("# " + comment + "\n")
	}
	b.WriteString(AuthorizedLine(pub) + "\n")
	return true, fsutil.WriteFileAtomic(d.Authorized(), b.Bytes(), 0o644)
}

// ClientFiles writes a new client identity into dir in the original
// client's formats: client_id.key (0600) and a copy of known_server.pub.
// It refuses to overwrite an existing client_id.key.
func ClientFiles(dir string, serverPub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, ClientKeyFile)
	if _, err := os.Stat(keyPath); err == nil {
		return nil, fmt.Errorf("e2eeftp: %s already exists", keyPath)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	pemPriv, err := MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pemPub, err := MarshalPublicKey(serverPub)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(keyPath, pemPriv, 0o600); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, KnownServerFile), pemPub, 0o644); err != nil {
		return nil, err
	}
	return priv, nil
}

// Unauthorize removes pub (and the comment line right above it) from
// authorized_clients.pub; it reports whether the key was there. Every other
// line, comments and invalid lines included, is kept as it was.
func (d KeyDir) Unauthorize(pub ed25519.PublicKey) (removed bool, err error) {
	old, err := readSmall(d.Authorized(), maxAuthorizedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	lines := strings.SplitAfter(string(old), "\n")
	want := AuthorizedLine(pub)
	var out []string
	for _, l := range lines {
		if strings.TrimFunc(l, isPySpace) == want {
			removed = true
			if n := len(out); n > 0 && strings.HasPrefix(strings.TrimFunc(out[n-1], isPySpace), "#") {
				out = out[:n-1]
			}
			continue
		}
		out = append(out, l)
	}
	if !removed {
		return false, nil
	}
	return true, fsutil.WriteFileAtomic(d.Authorized(), []byte(strings.Join(out, "")), 0o644)
}
