package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A large blob is fsynced behind the writes (syncEvery), so Commit has
// little left to flush; the background sync must not change what is
// stored, and Commit and Abort must wait for it before closing the file.
func TestLocalSyncBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	const size = 2*syncEvery + 123
	for _, commit := range []bool{true, false} {
		w, err := l.Create(ctx, "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		lw := w.(*localWriter)
		var want bytes.Buffer
		for left := int64(size); left > 0; {
			p := chunk[:min(int64(len(chunk)), left)]
			if _, err := w.Write(p); err != nil {
				t.Fatal(err)
			}
			want.Write(p)
			left -= int64(len(p))
		}
		if lw.syncing == nil {
			t.Fatalf("no background sync after %d bytes", size)
		}
		if !commit {
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if lw.syncing != nil {
				t.Fatal("Abort returned with a background sync running")
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), tmpPrefix) {
					t.Fatalf("Abort left %s", filepath.Join(dir, e.Name()))
				}
			}
			continue
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if lw.syncing != nil {
			t.Fatal("Commit returned with a background sync running")
		}
		rc, info, err := l.Open(ctx, "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || info.Size != size || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("stored %d bytes (info %d), err %v; want the %d written", len(got), info.Size, err, size)
		}
	}
}

// A failed background fsync fails Commit even if Commit's own fsync
// succeeds (Linux reports a writeback error to one fsync only), and
// nothing is stored.
func TestLocalSyncBehindErrorFailsCommit(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	boom := errors.New("injected writeback error")
	syncFile = func(*os.File) error { return boom }
	defer func() { syncFile = (*os.File).Sync }()
	w, err := l.Create(context.Background(), "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, syncEvery)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, boom) {
		t.Fatalf("Commit after a failed background sync: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		t.Errorf("left %s", e.Name())
	}
}
