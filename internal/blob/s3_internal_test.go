package blob

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// A Writer must never hold more than one part in memory, whatever the
// sizes of the Writes it gets, and must store every byte in order, also
// with a part size that is not a whole number of chunks.
func TestS3WriterMemoryIsBoundedByPartSize(t *testing.T) {
	t.Parallel()
	for _, part := range []int64{S3MinPartSize, S3MinPartSize + 12345} {
		t.Run(strconv.FormatInt(part, 10), func(t *testing.T) {
			t.Parallel()
			testS3WriterMemoryIsBounded(t, part)
		})
	}
}

func testS3WriterMemoryIsBounded(t *testing.T, part int64) {
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	defer srv.Close()
	if err := be.CreateBucket("mem"); err != nil {
		t.Fatal(err)
	}
	s, err := OpenS3(t.Context(), "s3://mem/x", S3Options{
		Endpoint: "http://" + srv.Listener.Addr().String(), AccessKey: "a", SecretKey: "b",
		Region: "us-east-1", PartSize: part, SweepAge: -1, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	wr, err := s.Create(t.Context(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Abort()
	w := wr.(*s3Writer)
	var total int64
	var all bytes.Buffer
	for i, n := range []int{1, 100_000, 3*S3MinPartSize + 17, 70_000, S3MinPartSize - 1} {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(j*31 + i)
		}
		all.Write(p)
		got, err := w.Write(p)
		if err != nil || got != n {
			t.Fatalf("write %d: %d %v", n, got, err)
		}
		total += int64(n)
		if c := w.held(); c > part+s3ChunkSize {
			t.Fatalf("after writing %d bytes the buffer holds %d, more than a part and a chunk", total, c)
		}
		if want := total % part; w.buffered != want || w.inChunks() != want {
			t.Fatalf("buffered %d (%d in chunks), want %d", w.buffered, w.inChunks(), want)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	rc, st, err := s.Open(t.Context(), "big")
	if err != nil || st.Size != total {
		t.Fatalf("open %+v %v, want size %d", st, err, total)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, all.Bytes()) {
		t.Fatalf("read back %d bytes (%v), not the %d written", len(got), err, all.Len())
	}
	if w.chunks != nil || w.spare != nil {
		t.Fatal("committed writer still pins its buffer")
	}
	if w.tainted {
		t.Fatal("writer whose requests all succeeded at once is tainted")
	}
}

// chunkReader reads and writes out a part held in uneven chunks as the one
// byte sequence it is, from any point a read stopped at; an attempt's body
// cannot seek, so minio-go never retries it by seeking the shared reader.
func TestChunkReader(t *testing.T) {
	var chunks [][]byte
	var want []byte
	for _, n := range []int{3, 1, 7, 64, 5} {
		c := make([]byte, n, n+2) // spare capacity must never be read
		for j := range c {
			c[j] = byte(len(want) + j)
		}
		chunks = append(chunks, c)
		want = append(want, c...)
	}
	fresh := func() *chunkReader { return &chunkReader{chunks: chunks, size: int64(len(want))} }
	readAll := func(r io.Reader, step int) []byte {
		var out []byte
		buf := make([]byte, step)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, step := range []int{1, 2, 6, 100} {
		if got := readAll(fresh(), step); !bytes.Equal(got, want) {
			t.Fatalf("step %d: read %v, want %v", step, got, want)
		}
	}
	for off := 0; off <= len(want); off++ {
		r := fresh()
		if n, err := io.ReadFull(r, make([]byte, off)); n != off || err != nil {
			t.Fatalf("reading the first %d: %d %v", off, n, err)
		}
		var out bytes.Buffer
		if n, err := r.WriteTo(&out); err != nil || n != int64(len(want)-off) || !bytes.Equal(out.Bytes(), want[off:]) {
			t.Fatalf("WriteTo from %d: %d %v %v", off, n, err, out.Bytes())
		}
		if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Fatalf("read past the end: %d %v", n, err)
		}
	}
	var body io.Reader = &partBody{r: *fresh()}
	if _, ok := body.(io.Seeker); ok {
		t.Fatal("an attempt's body seeks: minio-go would retry it by seeking the reader a failed attempt may still read")
	}
	if got := readAll(body, 5); !bytes.Equal(got, want) {
		t.Fatalf("partBody read %v", got)
	}
	empty := &chunkReader{}
	if n, err := empty.WriteTo(io.Discard); n != 0 || err != nil {
		t.Fatalf("empty WriteTo: %d %v", n, err)
	}
	if n, err := empty.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("empty read: %d %v", n, err)
	}
}

// A part minio-go retries goes out whole again, and the Writer then keeps
// its chunks out of the pool: the failed attempt's write loop may still
// be reading them.
func TestS3WriterRetriedPartIsWholeAndNotPooled(t *testing.T) {
	t.Parallel()
	d := &discardS3{}
	var failed atomic.Bool
	d.fail = func(r *http.Request) bool {
		return r.URL.Query().Get("partNumber") == "2" && !failed.Swap(true)
	}
	s := openTestS3(t, d, S3Options{PartSize: S3MinPartSize, SweepAge: -1, MaxRetries: 3})
	wr, err := s.Create(t.Context(), "f")
	if err != nil {
		t.Fatal(err)
	}
	w := wr.(*s3Writer)
	p := make([]byte, 3*S3MinPartSize+5)
	for i := range p {
		p[i] = byte(i * 13)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.bad) > 0 || !failed.Load() {
		t.Fatalf("bodies %v, failure injected: %v", d.bad, failed.Load())
	}
	if want := []int64{S3MinPartSize, S3MinPartSize, S3MinPartSize, S3MinPartSize, 5}; !slices.Equal(d.parts, want) {
		t.Fatalf("part bodies %v, want %v (part 2 twice)", d.parts, want)
	}
	if !w.tainted {
		t.Fatal("writer with a retried part would give its chunks back to the pool")
	}
}

// A part answered 500 before the server read its body: net/http may still
// be sending the failed attempt's body from the part's chunks while the
// Writer retries and goes on to the next part. The upload
// still completes with every part whole, the failed part's chunks stay
// out of the pool, and (under -race) no chunk is written while the
// abandoned attempt can read it.
func TestS3WriterPartAnsweredBeforeItsBodyIsRetried(t *testing.T) {
	t.Parallel()
	d := &discardS3{}
	var failed atomic.Int32
	d.failEarly = func(r *http.Request) bool {
		// The first two attempts of part 2: one retry races the other's
		// abandoned write loop too.
		return r.URL.Query().Get("partNumber") == "2" && failed.Add(1) <= 2
	}
	s := openTestS3(t, d, S3Options{PartSize: S3MinPartSize, SweepAge: -1, MaxRetries: 4})
	for round := range 3 {
		failed.Store(0)
		wr, err := s.Create(t.Context(), "f")
		if err != nil {
			t.Fatal(err)
		}
		w := wr.(*s3Writer)
		p := make([]byte, 4*S3MinPartSize+7)
		for i := range p {
			p[i] = byte(i*13 + round)
		}
		// The writes the backup upload makes, so the next part fills
		// while the failed one's attempts are in flight.
		for off := 0; off < len(p); off += 512 << 10 {
			if _, err := w.Write(p[off:min(off+512<<10, len(p))]); err != nil {
				t.Fatalf("round %d: write at %d: %v", round, off, err)
			}
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("round %d: commit: %v", round, err)
		}
		if n := failed.Load(); n < 3 {
			t.Fatalf("round %d: part 2 tried %d times, want the two injected failures and a success", round, n)
		}
		if !w.tainted {
			t.Fatalf("round %d: writer with a part answered early would give its chunks back to the pool", round)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.bad) > 0 {
		t.Fatalf("bodies that did not match their signed length and SHA-256: %v", d.bad)
	}
	// Every part that was read whole arrived whole: four full parts and
	// the 7-byte tail per round (the early-answered attempts are not read).
	var full, tail int
	for _, n := range d.parts {
		switch n {
		case S3MinPartSize:
			full++
		case 7:
			tail++
		default:
			t.Errorf("part body of %d bytes", n)
		}
	}
	if full != 3*4 || tail != 3 {
		t.Fatalf("%d full parts and %d tails over 3 rounds, want 12 and 3 (%v)", full, tail, d.parts)
	}
}

// A part is tried as often as the store allows when the server says try
// again (500, SlowDown), once when it says no (403 AccessDenied with no
// region), and not past the request's time bound: minio-go's rules,
// applied by send since the body it gets cannot seek.
func TestS3SendRetriesByMinioRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		status   int
		code     string
		attempts int32
	}{
		{"internal error", http.StatusInternalServerError, "InternalError", 3},
		{"slow down", http.StatusServiceUnavailable, "SlowDown", 3},
		{"access denied", http.StatusForbidden, "AccessDenied", 1},
		{"bad digest", http.StatusBadRequest, "BadDigest", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tries atomic.Int32
			s := openTestS3(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodHead {
					return // bucket exists
				}
				io.Copy(io.Discard, r.Body)
				tries.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>injected</Message></Error>`, tc.code)
			}), S3Options{SweepAge: -1, MaxRetries: 3})
			w, err := s.Create(t.Context(), "small")
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("one small PUT"))
			err = w.Commit()
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("commit: %v, want the server's %s", err, tc.code)
			}
			if n := tries.Load(); n != tc.attempts {
				t.Fatalf("%d attempts, want %d", n, tc.attempts)
			}
		})
	}
	t.Run("request timeout", func(t *testing.T) {
		t.Parallel()
		var tries atomic.Int32
		// Ten attempts would wait ≈ 5 s between them; the request's
		// 300 ms bound ends the retries with the waits.
		s := openTestS3(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				return
			}
			io.Copy(io.Discard, r.Body)
			tries.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		}), S3Options{SweepAge: -1, MaxRetries: 10, RequestTimeout: 300 * time.Millisecond})
		w, err := s.Create(t.Context(), "small")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("given up"))
		start := time.Now()
		if err := w.Commit(); err == nil {
			t.Fatal("commit succeeded")
		}
		if n, took := tries.Load(), time.Since(start); n < 1 || n > 4 || took > 3*time.Second {
			t.Fatalf("%d attempts in %v under a 300 ms request bound", n, took)
		}
	})
}

// openTestS3 opens the store on bucket "bkt" of an in-process server h,
// with opts' other settings.
func openTestS3(t *testing.T, h http.Handler, opts S3Options) *S3 {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	opts.Endpoint, opts.AccessKey, opts.SecretKey, opts.Region = "http://"+srv.Listener.Addr().String(), "a", "b", "us-east-1"
	s, err := OpenS3(t.Context(), "s3://bkt/x", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// held is the memory the Writer's part buffer pins.
func (w *s3Writer) held() int64 {
	var n int64
	for _, cs := range [][][]byte{w.chunks, w.spare} {
		for _, c := range cs {
			n += int64(cap(c))
		}
	}
	return n
}

// inChunks is the bytes the chunks hold.
func (w *s3Writer) inChunks() int64 {
	var n int64
	for _, c := range w.chunks {
		n += int64(len(c))
	}
	return n
}

// FuzzParseS3URL: no input panics, and an accepted URL always yields a
// valid bucket and a prefix that keeps every valid name below it.
func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{
		"s3://bkt", "s3://bkt/", "s3://acme-gatehouse/prod", "s3://my.bucket/a/b/", "s3://bkt/../x",
		"s3://bkt/a//b", "s3://BKT/x", "s3://user:pw@bkt/x", "s3://bkt/x?y=z", "s3://bkt/%2e%2e/x",
		"s3://bkt/a%00b", "s3:///x", "file:///tmp", "s3://bkt/.tmp-x", "s3://bkt/a\\b",
	} {
		f.Add(s, "alice/file.txt")
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		bucket, prefix, err := ParseS3URL(raw)
		if err != nil {
			return
		}
		if len(bucket) < 3 || len(bucket) > 63 || strings.ContainsAny(bucket, "/\\ \x00") {
			t.Fatalf("%q: accepted bucket %q", raw, bucket)
		}
		if prefix != "" && (!strings.HasSuffix(prefix, "/") || !ValidName(strings.TrimSuffix(prefix, "/"))) {
			t.Fatalf("%q: accepted prefix %q", raw, prefix)
		}
		if ValidName(name) {
			key := prefix + name
			if path.Clean(key) != key || !strings.HasPrefix(key, prefix) || strings.HasPrefix(key, "/") {
				t.Fatalf("name %q under prefix %q gives key %q", name, prefix, key)
			}
		}
	})
}

// FuzzListPrefix: an accepted List prefix never names anything outside
// the store: its folder part is a valid name and it has no control bytes.
func FuzzListPrefix(f *testing.F) {
	for _, s := range []string{"", "a/", "a", "a/sub/", "../", "a/../", "a\\b/", "x\x00/", "/abs", "a//", ".tmp-/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		if checkListPrefix(prefix) != nil {
			return
		}
		if strings.HasPrefix(prefix, "/") || strings.ContainsRune(prefix, '\\') {
			t.Fatalf("accepted %q", prefix)
		}
		for _, r := range prefix {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("accepted control byte in %q", prefix)
			}
		}
		if i := strings.LastIndex(prefix, "/"); i > 0 && !ValidName(prefix[:i]) {
			t.Fatalf("accepted folder %q", prefix[:i])
		}
	})
}
