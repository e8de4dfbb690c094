// Package keyfile keeps a small key file (an authorized-keys list) parsed
// in memory and re-reads it when it changes, so an operator's edit or a
// revocation takes effect on the next connection without a restart or a
// signal.
package keyfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// MaxStale is how long a parsed file is trusted without re-reading it even
// when its size and mtime look unchanged (a same-size edit within one
// mtime tick).
const MaxStale = time.Second

// Watched is a file parsed by Parse, re-read when its size or mtime
// changes and at least every MaxStale. A missing or unreadable file gives
// the zero T (for an authorized list: nobody).
type Watched[T any] struct {
	Path string
	Max  int64 // largest accepted file, bytes
	// Parse turns the file into T; bad lists problems to log (they are
	// logged once per change of the file).
	Parse func(b []byte) (v T, bad []string)
	Warn  func(msg string, args ...any) // may be nil

	mu      sync.Mutex
	size    int64
	mtime   time.Time
	checked time.Time
	loaded  bool
	val     T
}

// Get returns the current contents, re-reading the file if needed.
func (w *Watched[T]) Get() T {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refresh()
	return w.val
}

func (w *Watched[T]) warn(msg string, args ...any) {
	if w.Warn != nil {
		w.Warn(msg, args...)
	}
}

func (w *Watched[T]) refresh() {
	var zero T
	now := time.Now()
	st, err := os.Stat(w.Path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.warn("cannot stat key file; using none", "path", w.Path, "err", err)
		}
		w.val, w.loaded = zero, false
		return
	}
	if w.loaded && st.Size() == w.size && st.ModTime().Equal(w.mtime) && now.Sub(w.checked) < MaxStale {
		return
	}
	b, err := ReadSmall(w.Path, w.Max)
	if err != nil {
		w.warn("cannot read key file; using none", "path", w.Path, "err", err)
		w.val, w.loaded = zero, false
		return
	}
	v, bad := w.Parse(b)
	if !w.loaded || st.Size() != w.size || !st.ModTime().Equal(w.mtime) {
		for _, m := range bad {
			w.warn("skipping invalid line in key file", "path", w.Path, "where", m)
		}
	}
	w.val, w.loaded, w.size, w.mtime, w.checked = v, true, st.Size(), st.ModTime(), now
}

// ReadSmall reads a whole file of at most max bytes.
func ReadSmall(path string, max int64) ([]byte, error) {
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
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}
