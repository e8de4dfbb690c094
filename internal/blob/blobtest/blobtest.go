// Package blobtest is the conformance suite every blob.Store must pass: the
// same cases run against local files and S3, so services can rely on one
// contract (invisible until Commit, nothing after Abort, names that cannot
// escape, streaming of blobs larger than any buffer).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/blob"
)

// LargeSize is the size of the streaming case: larger than several S3
// parts, so stores that buffer per part must really stream.
const LargeSize = 40 << 20

// MultiPartSize is large enough to need two parts at S3's minimum part size.
const MultiPartSize = 11 << 20

// BadNames are names every store must refuse with blob.ErrBadName.
var BadNames = []string{
	"", "../x", "a/../../x", "/abs", "a\\b", "a\x00b", "a\nb", ".tmp-x", "a/.tmp-x",
	"a/../b", "./a", "a/./b", "a//b", "a/", "..", ".",
}

// Run runs the conformance suite; open must return a fresh, empty store for
// each call (it is called once per subtest).
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"CreateCommitOpen", testCreateCommitOpen},
		{"EmptyBlob", testEmptyBlob},
		{"AbortLeavesNothing", testAbortLeavesNothing},
		{"AbortMultiPart", testAbortMultiPart},
		{"WriterFinishRules", testWriterFinishRules},
		{"CommitAfterCreateContextEnds", testCommitAfterContextEnds},
		{"OverwriteIsAtomic", testOverwriteIsAtomic},
		{"ConcurrentWritersSameName", testConcurrentWriters},
		{"List", testList},
		{"Remove", testRemove},
		{"NotExist", testNotExist},
		{"BadNames", testBadNames},
		{"LargeStreaming", testLargeStreaming},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			c.fn(t, s)
		})
	}
}

// Put writes data under name and commits it.
func Put(t testing.TB, s blob.Store, name string, data []byte) {
	t.Helper()
	w, err := s.Create(t.Context(), name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	defer w.Abort()
	if n, err := w.Write(data); err != nil || n != len(data) {
		t.Fatalf("write %s: n=%d err=%v", name, n, err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit %s: %v", name, err)
	}
}

// Get reads the whole blob name.
func Get(t testing.TB, s blob.Store, name string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b, info
}

func wantNotExist(t *testing.T, s blob.Store, name string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), name); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("stat %q: want ErrNotExist, got %v", name, err)
	}
	rc, _, err := s.Open(t.Context(), name)
	if err == nil {
		rc.Close()
	}
	if !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("open %q: want ErrNotExist, got %v", name, err)
	}
}

func names(infos []blob.Info) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.Name
	}
	return out
}

func mustList(t *testing.T, s blob.Store, prefix string) []blob.Info {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return infos
}

func testCreateCommitOpen(t *testing.T, s blob.Store) {
	data := []byte("hello, gatehouse\n")
	start := time.Now()
	w, err := s.Create(t.Context(), "alice/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[5:]); err != nil {
		t.Fatal(err)
	}
	// Invisible before Commit, by every way of looking.
	wantNotExist(t, s, "alice/notes.txt")
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Fatalf("list before commit: %v", names(got))
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, info := Get(t, s, "alice/notes.txt")
	if !bytes.Equal(got, data) {
		t.Fatalf("content %q, want %q", got, data)
	}
	if info.Name != "alice/notes.txt" || info.Size != int64(len(data)) {
		t.Fatalf("open info %+v", info)
	}
	st, err := s.Stat(t.Context(), "alice/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "alice/notes.txt" || st.Size != int64(len(data)) {
		t.Fatalf("stat %+v", st)
	}
	// Stores round modification times (S3 to seconds), so allow slack.
	if st.ModTime.Before(start.Add(-2*time.Second)) || st.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("mod time %v not around now %v", st.ModTime, start)
	}
	l := mustList(t, s, "")
	if len(l) != 1 || l[0].Name != "alice/notes.txt" || l[0].Size != int64(len(data)) {
		t.Fatalf("list %+v", l)
	}
}

func testEmptyBlob(t *testing.T, s blob.Store) {
	Put(t, s, "empty", nil)
	got, info := Get(t, s, "empty")
	if len(got) != 0 || info.Size != 0 {
		t.Fatalf("empty blob: %d bytes, info %+v", len(got), info)
	}
	st, err := s.Stat(t.Context(), "empty")
	if err != nil || st.Size != 0 {
		t.Fatalf("stat empty: %+v %v", st, err)
	}
}

func testAbortLeavesNothing(t *testing.T, s blob.Store) {
	w, err := s.Create(t.Context(), "d/aborted.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("commit after abort succeeded")
	}
	wantNotExist(t, s, "d/aborted.bin")
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Fatalf("list after abort: %v", names(got))
	}
	// An aborted overwrite keeps the old content.
	Put(t, s, "d/kept", []byte("old"))
	w, err = s.Create(t.Context(), "d/kept")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("new content that must not appear"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if got, _ := Get(t, s, "d/kept"); string(got) != "old" {
		t.Fatalf("aborted overwrite changed content to %q", got)
	}
}

func testAbortMultiPart(t *testing.T, s blob.Store) {
	w, err := s.Create(t.Context(), "big/aborted")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(newStream(7), MultiPartSize)); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, s, "big/aborted")
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, s, "big/aborted")
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Fatalf("list after abort: %v", names(got))
	}
}

func testWriterFinishRules(t *testing.T, s blob.Store) {
	w, err := s.Create(t.Context(), "rules")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("second commit succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("abort after commit must be a no-op, got %v", err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Fatal("write after commit succeeded")
	}
	if got, _ := Get(t, s, "rules"); string(got) != "x" {
		t.Fatalf("content %q after commit/abort/write, want x", got)
	}
}

// Services pass their connection's context to Create; shutdown cancels it
// while the current request is allowed to finish, so Commit must still work.
func testCommitAfterContextEnds(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	w, err := s.Create(ctx, "ctx/late")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("first half "))
	cancel()
	if _, err := w.Write([]byte("second half")); err != nil {
		t.Fatalf("write after cancel: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit after cancel: %v", err)
	}
	if got, _ := Get(t, s, "ctx/late"); string(got) != "first half second half" {
		t.Fatalf("content %q", got)
	}
}

func testOverwriteIsAtomic(t *testing.T, s blob.Store) {
	v1 := bytes.Repeat([]byte("1"), 1000)
	v2 := bytes.Repeat([]byte("2"), 3000)
	Put(t, s, "o/file", v1)
	old, _, err := s.Open(t.Context(), "o/file")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	w, err := s.Create(t.Context(), "o/file")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write(v2[:1500])
	if got, _ := Get(t, s, "o/file"); !bytes.Equal(got, v1) {
		t.Fatalf("during overwrite: %d bytes, want the old %d", len(got), len(v1))
	}
	w.Write(v2[1500:])
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	got, info := Get(t, s, "o/file")
	if !bytes.Equal(got, v2) || info.Size != int64(len(v2)) {
		t.Fatalf("after overwrite: %d bytes (info %d), want %d", len(got), info.Size, len(v2))
	}
	// A reader opened before the overwrite still sees the whole old blob.
	b, err := io.ReadAll(old)
	if err != nil || !bytes.Equal(b, v1) {
		t.Fatalf("reader opened before overwrite: %d bytes, err %v", len(b), err)
	}
	if l := mustList(t, s, "o/"); len(l) != 1 || l[0].Size != int64(len(v2)) {
		t.Fatalf("list after overwrite: %+v", l)
	}
}

func testConcurrentWriters(t *testing.T, s blob.Store) {
	const n = 4
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 100_000+i*7919)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(t.Context(), "race/same")
			if err != nil {
				errs <- err
				return
			}
			defer w.Abort()
			for off := 0; off < len(contents[i]); off += 8192 {
				if _, err := w.Write(contents[i][off:min(off+8192, len(contents[i]))]); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent writer: %v", err)
		}
	}
	got, info := Get(t, s, "race/same")
	if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
		t.Fatalf("final content (%d bytes) is not one writer's whole content", len(got))
	}
	if info.Size != int64(len(got)) {
		t.Fatalf("info size %d, read %d", info.Size, len(got))
	}
}

func testList(t *testing.T, s blob.Store) {
	files := map[string]string{"a/1": "one", "a/2": "two!", "a/sub/3": "three", "ab": "x", "b/1": "yy"}
	for _, n := range []string{"b/1", "a/sub/3", "ab", "a/2", "a/1"} { // not in order on purpose
		Put(t, s, n, []byte(files[n]))
	}
	pending, err := s.Create(t.Context(), "a/pending")
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Abort()
	pending.Write([]byte("not yet"))

	for _, c := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a/1", "a/2", "a/sub/3", "ab", "b/1"}},
		{"a/", []string{"a/1", "a/2", "a/sub/3"}},
		{"a", []string{"a/1", "a/2", "a/sub/3", "ab"}},
		{"a/sub/", []string{"a/sub/3"}},
		{"a/s", []string{"a/sub/3"}},
		{"b/1", []string{"b/1"}},
		{"zz/", nil},
		{"nothing", nil},
	} {
		got := mustList(t, s, c.prefix)
		if !slices.Equal(names(got), c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Fatalf("list %q = %v, want %v", c.prefix, names(got), c.want)
		}
		for _, in := range got {
			if in.Size != int64(len(files[in.Name])) {
				t.Fatalf("list %q: %s size %d, want %d", c.prefix, in.Name, in.Size, len(files[in.Name]))
			}
		}
	}
	for _, bad := range []string{"../", "../x", "a/../", "a\\b/", "x\x00/"} {
		if _, err := s.List(t.Context(), bad); !errors.Is(err, blob.ErrBadName) {
			t.Fatalf("list %q: want ErrBadName, got %v", bad, err)
		}
	}
	// A folder is not a blob.
	wantNotExist(t, s, "a")
	wantNotExist(t, s, "a/sub")
}

func testRemove(t *testing.T, s blob.Store) {
	Put(t, s, "r/x", []byte("gone soon"))
	Put(t, s, "r/y", []byte("stays"))
	if err := s.Remove(t.Context(), "r/x"); err != nil {
		t.Fatal(err)
	}
	wantNotExist(t, s, "r/x")
	if err := s.Remove(t.Context(), "r/x"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("second remove: want ErrNotExist, got %v", err)
	}
	if err := s.Remove(t.Context(), "never/was"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("remove missing: want ErrNotExist, got %v", err)
	}
	if err := s.Remove(t.Context(), "r"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("remove folder: want ErrNotExist, got %v", err)
	}
	if got := names(mustList(t, s, "r/")); !slices.Equal(got, []string{"r/y"}) {
		t.Fatalf("list after remove: %v", got)
	}
	if got, _ := Get(t, s, "r/y"); string(got) != "stays" {
		t.Fatalf("neighbour changed: %q", got)
	}
}

func testNotExist(t *testing.T, s blob.Store) {
	wantNotExist(t, s, "missing")
	wantNotExist(t, s, "no/such/file.txt")
	Put(t, s, "there", []byte("x"))
	wantNotExist(t, s, "ther")
	// Below a blob, as if it were a folder: not a blob either.
	wantNotExist(t, s, "there/below")
}

func testBadNames(t *testing.T, s blob.Store) {
	for _, n := range BadNames {
		if w, err := s.Create(t.Context(), n); !errors.Is(err, blob.ErrBadName) {
			if err == nil {
				w.Abort()
			}
			t.Fatalf("create %q: want ErrBadName, got %v", n, err)
		}
		if rc, _, err := s.Open(t.Context(), n); !errors.Is(err, blob.ErrBadName) {
			if err == nil {
				rc.Close()
			}
			t.Fatalf("open %q: want ErrBadName, got %v", n, err)
		}
		if _, err := s.Stat(t.Context(), n); !errors.Is(err, blob.ErrBadName) {
			t.Fatalf("stat %q: want ErrBadName, got %v", n, err)
		}
		if err := s.Remove(t.Context(), n); !errors.Is(err, blob.ErrBadName) {
			t.Fatalf("remove %q: want ErrBadName, got %v", n, err)
		}
	}
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Fatalf("bad names left blobs: %v", names(got))
	}
}

// newStream is a deterministic pseudo-random byte stream, so large cases
// need no large buffers in the test either.
func newStream(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return rand.NewChaCha8(key)
}

func testLargeStreaming(t *testing.T, s blob.Store) {
	w, err := s.Create(t.Context(), "large/stream.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	src := io.LimitReader(newStream(42), LargeSize)
	sum := sha256.New()
	// Odd-sized writes straddle every part boundary.
	buf := make([]byte, 100_003)
	var total int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			sum.Write(buf[:n])
			wn, err := w.Write(buf[:n])
			if err != nil || wn != n {
				t.Fatalf("write at %d: n=%d err=%v", total, wn, err)
			}
			total += int64(n)
		}
		if rerr != nil {
			break
		}
	}
	if total != LargeSize {
		t.Fatalf("wrote %d, want %d", total, LargeSize)
	}
	wantNotExist(t, s, "large/stream.bin")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(t.Context(), "large/stream.bin")
	if err != nil || st.Size != LargeSize {
		t.Fatalf("stat: %+v %v", st, err)
	}
	rc, info, err := s.Open(t.Context(), "large/stream.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if info.Size != LargeSize {
		t.Fatalf("open info size %d", info.Size)
	}
	rsum := sha256.New()
	n, err := io.Copy(rsum, rc)
	if err != nil || n != LargeSize {
		t.Fatalf("read back %d bytes: %v", n, err)
	}
	if !bytes.Equal(rsum.Sum(nil), sum.Sum(nil)) {
		t.Fatal("large blob content differs")
	}
}

// Fill writes size pseudo-random bytes to w (for benchmarks and callers'
// own large cases).
func Fill(w io.Writer, seed uint64, size int64) error {
	n, err := io.Copy(w, io.LimitReader(newStream(seed), size))
	if err == nil && n != size {
		err = fmt.Errorf("filled %d of %d bytes", n, size)
	}
	return err
}
