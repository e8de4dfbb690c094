package backup

// Server-side files: port.info (the original server's listening port) and
// the master key that seals the clients' AES keys in the store.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"gatehouse/internal/fsutil"
)

// ReadPortInfo reads a port.info file the way the original server did: the
// whole file, whitespace-trimmed, an integer 0..65535 (0: any free port).
func ReadPortInfo(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) > 64 {
		return 0, fmt.Errorf("backup: %s: not a port number", path)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("backup: %s: %q is not a port 0..65535", path, strings.TrimSpace(string(b)))
	}
	return p, nil
}

// FindPortInfo tries each path in order and returns the port of the first
// file that exists. found is false when none exists; an existing file that
// does not hold a port is an error (the caller falls back to the default
// port, as the original did, and says so).
func FindPortInfo(paths ...string) (port int, from string, found bool, err error) {
	for _, p := range paths {
		port, err := ReadPortInfo(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return port, p, true, err
	}
	return 0, "", false, nil
}

// LoadOrCreateMasterKey returns the 32-byte key that seals the clients' AES
// keys in the store, creating it (mode 0600, written atomically) on first
// use. Losing it makes every stored AES key unusable: clients re-register.
func LoadOrCreateMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("backup: master key %s is %d bytes, want 32", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup: master key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := fsutil.WriteFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("backup: master key: %w", err)
	}
	return key, nil
}
