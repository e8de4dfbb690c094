package zmqcmd

// Key folder operations behind 'gatehouse keys zmqcmd'.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gatehouse/internal/keyfile"
	"gatehouse/internal/zmtp"
)

// ErrKeyExists is returned by InitServerKeys when a key pair is there.
var ErrKeyExists = errors.New("zmqcmd: a CURVE server key already exists")

// InitServerKeys creates the server's key pair in dir: the secret
// certificate (0600) and the public one. An existing pair is kept unless
// force.
func InitServerKeys(dir string, force bool) (Cert, error) {
	secret := filepath.Join(dir, ServerSecretFile)
	if _, err := os.Stat(secret); err == nil && !force {
		return Cert{}, fmt.Errorf("%w: %s", ErrKeyExists, secret)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Cert{}, err
	}
	c, err := genCert()
	if err != nil {
		return Cert{}, err
	}
	if err := writeFileAtomic(secret, MarshalCert(c, true, "zmqcmd CURVE server"), 0o600); err != nil {
		return Cert{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, ServerPublicFile), MarshalCert(c, false, "zmqcmd CURVE server"), 0o644); err != nil {
		return Cert{}, err
	}
	return c, nil
}

func genCert() (Cert, error) {
	pub, sec, err := zmtp.GenerateCurveKeyPair()
	if err != nil {
		return Cert{}, err
	}
	return Cert{Public: pub, Secret: sec, HasSecret: true}, nil
}

// WriteClientFiles creates a client key pair in dir: client.key_secret
// (0600), client.key, and a copy of the server's public certificate, which
// is what a client needs. Existing files are not overwritten.
func WriteClientFiles(dir string, server Cert) (Cert, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Cert{}, err
	}
	for _, n := range []string{ClientSecretFile, ClientPublicFile} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return Cert{}, fmt.Errorf("zmqcmd: %s exists; not overwriting a client key", filepath.Join(dir, n))
		}
	}
	c, err := genCert()
	if err != nil {
		return Cert{}, err
	}
	files := []struct {
		name string
		b    []byte
		mode os.FileMode
	}{
		{ClientSecretFile, MarshalCert(c, true, "zmqcmd CURVE client"), 0o600},
		{ClientPublicFile, MarshalCert(c, false, "zmqcmd CURVE client"), 0o644},
		{ServerPublicFile, MarshalCert(server, false, "zmqcmd CURVE server"), 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.b, f.mode); err != nil {
			return Cert{}, err
		}
	}
	return c, nil
}

// AuthorizeKey appends k to the authorized list at path (created 0600),
// with comment on the line above. added is false when k was already there.
func AuthorizeKey(path string, k [32]byte, comment string) (added bool, err error) {
	b, err := readAuthorized(path)
	if err != nil {
		return false, err
	}
	entries, _ := ParseAuthorized(b)
	for _, e := range entries {
		if e.Key == k {
			return false, nil
		}
	}
	var nb bytes.Buffer
	nb.Write(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		nb.WriteByte('\n')
	}
	if comment = strings.TrimSpace(strings.ReplaceAll(comment, "\n", " ")); comment != "" {
		nb.WriteString("# " + comment + "\n")
	}
	nb.WriteString(AuthorizedLine(k) + "\n")
	return true, writeFileAtomic(path, nb.Bytes(), authorizedMode(path))
}

// RevokeKey removes every line holding k (and the comment line right above
// each) from the authorized list. removed is false when k was not there.
func RevokeKey(path string, k [32]byte) (removed bool, err error) {
	b, err := readAuthorized(path)
	if err != nil {
		return false, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	var out []string
	for _, l := range lines {
		t := strings.Trim(strings.TrimSpace(l), "'\"")
		if key, err := zmtp.ParseKey(t); err == nil && key == k {
			removed = true
			if n := len(out); n > 0 && strings.HasPrefix(strings.TrimSpace(out[n-1]), "#") {
				out = out[:n-1]
			}
			continue
		}
		out = append(out, l)
	}
	if !removed {
		return false, nil
	}
	return true, writeFileAtomic(path, []byte(strings.Join(out, "")), authorizedMode(path))
}

func readAuthorized(path string) ([]byte, error) {
	b, err := keyfile.ReadSmall(path, maxAuthorizedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func authorizedMode(path string) os.FileMode {
	if st, err := os.Stat(path); err == nil {
		return st.Mode().Perm()
	}
	return 0o600
}

// writeFileAtomic replaces path with b through a temporary file and a
// rename, so the daemon never reads half a list.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
