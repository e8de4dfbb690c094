package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Local stores blobs as files under one directory, opened as an os.Root so
// no name can reach outside it. Writes go to a ".tmp-" file in the target's
// folder, are fsynced, then renamed into place and the folder fsynced.
type Local struct {
	root *os.Root
	dir  string
}

// LocalSweepAge is how long a temp file must have gone unwritten before
// OpenLocal removes it as a crash's leftover. A writer that is alive writes
// far more often (every body moves under a minimum rate), so another
// process on the same folder — a second daemon, an admin command — never
// loses a write in progress.
const LocalSweepAge = time.Hour

// OpenLocal opens (creating if needed) the folder dir and sweeps temp files
// left by a crash (unwritten for LocalSweepAge).
func OpenLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	l := &Local{root: r, dir: dir}
	if err := l.sweep(); err != nil {
		r.Close()
		return nil, err
	}
	return l, nil
}

// Dir is the folder the store lives in.
func (l *Local) Dir() string { return l.dir }

func (l *Local) Close() error { return l.root.Close() }

func (l *Local) sweep() error {
	return fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			if info, err := d.Info(); err != nil || time.Since(info.ModTime()) < LocalSweepAge {
				return nil // being written by someone, or already gone
			}
			if err := l.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("blob: sweeping %s: %w", p, err)
			}
		}
		return nil
	})
}

func (l *Local) Create(ctx context.Context, name string) (Writer, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	dir := path.Dir(name)
	if dir != "." {
		if err := l.root.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	var rb [8]byte
	rand.Read(rb[:])
	tmp := path.Join(dir, tmpPrefix+hex.EncodeToString(rb[:]))
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return &localWriter{l: l, f: f, tmp: tmp, name: name}, nil
}

type localWriter struct {
	l         *Local
	f         *os.File
	tmp, name string
	done      bool
	// unsynced counts the bytes written since the last background sync
	// started; syncing is non-nil while one runs and is closed when it
	// ends (at most one at a time).
	unsynced int64
	syncing  chan struct{}
	// syncErr is the first background fsync's error (set before syncing
	// closes): Linux reports a writeback error to one fsync per open file
	// only, so Commit must not trust its own fsync after a failed one.
	syncErr error
}

// syncEvery is how many bytes a writer lets pile up before it fsyncs them
// in the background while the writes go on. Without it a large blob is
// all unsynced when Commit fsyncs, and the writer (an upload's client)
// waits for the whole flush after its last byte: ≈ 0.12 s for 256 MiB on
// the reference VM, whose disk flushes its host-side cache on fsync
// (sync_file_range's writeback does not reach that cache). With it,
// Commit's fsync has at most this much (plus what arrived during the last
// background sync) left.
const syncEvery = 32 << 20

// syncFile is the background fsync (a test replaces it to fail).
var syncFile = (*os.File).Sync

func (w *localWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.unsynced += int64(n)
	if w.unsynced >= syncEvery && err == nil {
		w.syncBehind()
	}
	return n, err
}

// syncBehind starts a background fsync of what is written so far, unless
// one is still running (then the next Write tries again). It is an early
// start of Commit's fsync; its error is kept for Commit (syncErr).
func (w *localWriter) syncBehind() {
	if w.syncing != nil {
		select {
		case <-w.syncing:
		default:
			return
		}
	}
	w.unsynced = 0
	done := make(chan struct{})
	w.syncing = done
	go func(f *os.File) {
		defer close(done)
		if err := syncFile(f); err != nil && w.syncErr == nil {
			w.syncErr = err
		}
	}(w.f)
}

// waitSync waits for a background fsync to end before the file is closed.
func (w *localWriter) waitSync() {
	if w.syncing != nil {
		<-w.syncing
		w.syncing = nil
	}
}

func (w *localWriter) Commit() error {
	if w.done {
		return errors.New("blob: writer already finished")
	}
	w.done = true
	w.waitSync()
	err := w.syncErr
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		w.f.Close()
		w.l.root.Remove(w.tmp)
		return fmt.Errorf("blob: %w", err)
	}
	if err := w.f.Close(); err != nil {
		w.l.root.Remove(w.tmp)
		return fmt.Errorf("blob: %w", err)
	}
	if err := w.l.root.Rename(w.tmp, w.name); err != nil {
		w.l.root.Remove(w.tmp)
		return fmt.Errorf("blob: %w", err)
	}
	if d, err := w.l.root.Open(path.Dir(w.name)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.waitSync()
	w.f.Close()
	if err := w.l.root.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, Info, error) {
	if !ValidName(name) {
		return nil, Info{}, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	f, err := l.root.Open(name)
	if err != nil {
		return nil, Info{}, mapErr(name, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return f, Info{Name: name, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (l *Local) Stat(ctx context.Context, name string) (Info, error) {
	if !ValidName(name) {
		return Info{}, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	st, err := l.root.Stat(name)
	if err != nil {
		return Info{}, mapErr(name, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return Info{Name: name, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (l *Local) Remove(ctx context.Context, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	st, err := l.root.Stat(name)
	if err != nil {
		return mapErr(name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return mapErr(name, l.root.Remove(name))
}

func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	start := "."
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = prefix[:i]
		if !ValidName(start) {
			return nil, fmt.Errorf("%w: %q", ErrBadName, prefix)
		}
	}
	err := fs.WalkDir(l.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tmpPrefix) || !strings.HasPrefix(p, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, Info{Name: p, Size: st.Size(), ModTime: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func mapErr(name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %s", ErrNotExist, name)
	}
	return fmt.Errorf("blob: %w", err)
}
