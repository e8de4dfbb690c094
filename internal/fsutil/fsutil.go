// Package fsutil holds the one way Gatehouse writes small local files
// (keys, key lists, client state): atomically, so a reader or a crash never
// sees half a file.
package fsutil

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path with mode perm: a temp file in the
// same folder (created 0600, so a key is never briefly world-readable),
// fsynced, chmod'ed, renamed over path, and the folder fsynced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
