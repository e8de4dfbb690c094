package blob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
)

func openLocal(t *testing.T) *blob.Local {
	t.Helper()
	l, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLocalConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blob.Store { return openLocal(t) })
}

// The services only ever see a Prefixed view; it must keep the contract too.
func TestPrefixedLocalConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.Prefixed(openLocal(t), "svc") })
}

// tempFiles lists every ".tmp-" file under dir, however deep.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A process that dies between Write and Commit leaves a temp file; the next
// OpenLocal must neither show it nor keep it.
func TestLocalCrashBeforeRenameLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := blob.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Put(t, l, "keep/old.txt", []byte("committed"))
	w, err := l.Create(t.Context(), "keep/crashed.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("half of a file")); err != nil {
		t.Fatal(err)
	}
	// Simulated crash: the writer is never committed nor aborted.
	temps := tempFiles(t, dir)
	if len(temps) != 1 {
		t.Fatalf("want 1 temp file while writing, found %d", len(temps))
	}
	l.Close()
	// A store opened meanwhile (another daemon, an admin command) leaves a
	// temp file that is being written alone…
	l1, err := blob.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	l1.Close()
	if n := len(tempFiles(t, dir)); n != 1 {
		t.Fatalf("a fresh temp file was swept (%d left)", n)
	}
	// …and one unwritten for LocalSweepAge is a crash's leftover.
	old := time.Now().Add(-blob.LocalSweepAge - time.Minute)
	if err := os.Chtimes(temps[0], old, old); err != nil {
		t.Fatal(err)
	}

	l2, err := blob.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if left := tempFiles(t, dir); len(left) != 0 {
		t.Fatalf("OpenLocal did not sweep %v", left)
	}
	if _, err := l2.Stat(t.Context(), "keep/crashed.bin"); err == nil {
		t.Fatal("uncommitted blob visible after reopen")
	}
	infos, err := l2.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "keep/old.txt" {
		t.Fatalf("after crash: %+v", infos)
	}
	if got, _ := blobtest.Get(t, l2, "keep/old.txt"); string(got) != "committed" {
		t.Fatalf("committed blob changed: %q", got)
	}
	// The crashed writer's late Commit must not resurrect the blob now
	// that its temp file is gone.
	if err := w.Commit(); err == nil {
		if _, err := l2.Stat(t.Context(), "keep/crashed.bin"); err == nil {
			t.Fatal("commit after sweep made a swept blob visible")
		}
	}
}
