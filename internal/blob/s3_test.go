package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
)

// s3Server is what the tests need of an S3-compatible server: where it is,
// credentials, and fresh buckets. fakeS3 (in process) and realS3
// (SeaweedFS started by .ci/run) both provide it; tests that need fault
// injection run on the fake only.
type s3Server struct {
	t        testing.TB
	endpoint string // host:port, plain http
	access   string
	secret   string
	prefix   string // bucket name prefix, unique per test run on a shared server
	buckets  atomic.Int64
	makeBkt  func(name string) error
}

// fakeS3 is an in-process S3 server (gofakes3) on 127.0.0.1 with a
// recorder in front of it: it checks every request the store sends and can
// fail chosen ones to exercise the error paths.
type fakeS3 struct {
	*s3Server
	srv     *httptest.Server
	backend *s3mem.Backend

	mu        sync.Mutex
	problems  []string // requests that broke a rule
	maxPart   int64    // largest PUT body seen
	completes int      // CompleteMultipartUpload calls
	puts      int      // single-request PutObject calls
	fail      func(r *http.Request) bool
}

func newFakeS3(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{backend: s3mem.New()}
	h := gofakes3.New(f.backend).Server()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.observe(r)
		f.mu.Lock()
		failFn := f.fail
		f.mu.Unlock()
		if failFn != nil && failFn(r) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	if !strings.HasPrefix(f.srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("fake S3 not on loopback: %s", f.srv.Listener.Addr())
	}
	f.s3Server = &s3Server{t: t, endpoint: f.srv.Listener.Addr().String(), access: "gatehouse-test",
		secret: "gatehouse-test-secret", prefix: "bkt", makeBkt: f.backend.CreateBucket}
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.problems) > 0 {
			t.Errorf("S3 requests broke the rules:\n%s", strings.Join(f.problems, "\n"))
		}
	})
	return f
}

// observe enforces: every upload carries its real, known size (never
// chunked with an unknown length), and no part is larger than a part.
func (f *fakeS3) observe(r *http.Request) {
	if r.Method != http.MethodPut && !(r.Method == http.MethodPost && r.URL.Query().Has("uploadId")) {
		return
	}
	size := r.ContentLength
	if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			size = -1
		} else {
			size = n
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost {
		f.completes++
		return
	}
	if size < 0 || slicesContains(r.TransferEncoding, "chunked") {
		f.problems = append(f.problems, fmt.Sprintf("%s %s sent without a known size (len %d, te %v)", r.Method, r.URL, size, r.TransferEncoding))
	}
	if !r.URL.Query().Has("partNumber") {
		f.puts++
	}
	f.maxPart = max(f.maxPart, size)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (f *fakeS3) setFail(fn func(r *http.Request) bool) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

func (f *fakeS3) counts() (completes, puts int, maxPart int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.completes, f.puts, f.maxPart
}

func (f *s3Server) opts() blob.S3Options {
	return blob.S3Options{
		Endpoint:   "http://" + f.endpoint,
		AccessKey:  f.access,
		SecretKey:  f.secret,
		Region:     "us-east-1",
		PartSize:   blob.S3MinPartSize,
		SweepAge:   -1,
		MaxRetries: 1,
	}
}

// newBucket makes a fresh empty bucket so every store starts empty.
func (f *s3Server) newBucket() string {
	name := fmt.Sprintf("%s-%d", f.prefix, f.buckets.Add(1))
	if err := f.makeBkt(name); err != nil {
		f.t.Fatal(err)
	}
	return name
}

func (f *s3Server) open(t *testing.T, url string) *blob.S3 {
	t.Helper()
	s, err := blob.OpenS3(t.Context(), url, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// raw is a plain minio client for looking behind the store's back.
func (f *s3Server) raw(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(f.endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(f.access, f.secret, ""), Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *s3Server) incomplete(t *testing.T, bucket string) int {
	t.Helper()
	n := 0
	for u := range f.raw(t).ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		n++
	}
	return n
}

func (f *s3Server) objectKeys(t *testing.T, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range f.raw(t).ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// newRealS3 is the real S3-compatible server .ci/run starts (SeaweedFS with
// SigV4 identities), named by GATEHOUSE_TEST_S3_*; without it the test is
// skipped with one line, unless CI=true.
func newRealS3(t *testing.T) *s3Server {
	t.Helper()
	endpoint, access, secret := blobtest.RealS3(t)
	f := &s3Server{t: t, endpoint: endpoint, access: access, secret: secret,
		prefix: fmt.Sprintf("gh%d", time.Now().UnixNano())}
	f.makeBkt = func(name string) error {
		raw := f.raw(t)
		if err := raw.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return err
		}
		t.Cleanup(func() { blobtest.RemoveBucket(raw, name) })
		return nil
	}
	return f
}

// bothServers runs body against the in-process fake and the real server.
func bothServers(t *testing.T, body func(t *testing.T, f *s3Server)) {
	t.Run("fake", func(t *testing.T) { body(t, newFakeS3(t).s3Server) })
	t.Run("real", func(t *testing.T) { body(t, newRealS3(t)) })
}

func TestS3Conformance(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t)
	t.Run("with-prefix", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return f.open(t, "s3://"+f.newBucket()+"/gh/blobs") })
	})
	t.Run("bucket-root", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return f.open(t, "s3://"+f.newBucket()) })
	})
	t.Run("prefixed-view", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store {
			return blob.Prefixed(f.open(t, "s3://"+f.newBucket()+"/p"), "svc")
		})
	})
	completes, puts, maxPart := f.counts()
	if completes == 0 || puts == 0 {
		t.Fatalf("suite never exercised both upload paths: %d completes, %d single puts", completes, puts)
	}
	if maxPart > blob.S3MinPartSize {
		t.Fatalf("a request carried %d bytes, more than one part (%d)", maxPart, blob.S3MinPartSize)
	}
}

// The same suite against a real S3 server with SigV4 checks and real
// multipart semantics (several parts, abort, overwrite, list, not-found).
func TestS3ConformanceRealServer(t *testing.T) {
	t.Parallel()
	f := newRealS3(t)
	t.Run("with-prefix", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return f.open(t, "s3://"+f.newBucket()+"/gh/blobs") })
	})
	t.Run("bucket-root", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return f.open(t, "s3://"+f.newBucket()) })
	})
}

func TestS3MultipartVisibleOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	bothServers(t, testS3MultipartVisibleOnlyAfterCommit)
}

func testS3MultipartVisibleOnlyAfterCommit(t *testing.T, f *s3Server) {
	bucket := f.newBucket()
	a := f.open(t, "s3://"+bucket+"/shared")
	b := f.open(t, "s3://"+bucket+"/shared") // a second daemon on the same bucket
	w, err := a.Create(t.Context(), "c/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	const size = 2*blob.S3MinPartSize + 12345
	if err := blobtest.Fill(w, 3, size); err != nil {
		t.Fatal(err)
	}
	if got := f.incomplete(t, bucket); got != 1 {
		t.Fatalf("want one multipart upload in flight, got %d", got)
	}
	if keys := f.objectKeys(t, bucket); len(keys) != 0 {
		t.Fatalf("objects visible before commit: %v", keys)
	}
	if _, err := b.Stat(t.Context(), "c/big.bin"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("other daemon sees blob before commit: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := b.Stat(t.Context(), "c/big.bin")
	if err != nil || st.Size != size {
		t.Fatalf("other daemon after commit: %+v %v", st, err)
	}
	if got := f.incomplete(t, bucket); got != 0 {
		t.Fatalf("%d uploads left after commit", got)
	}
	if keys := f.objectKeys(t, bucket); len(keys) != 1 || keys[0] != "shared/c/big.bin" {
		t.Fatalf("bucket holds %v", keys)
	}
}

// A daemon that dies mid-upload leaves only an invisible multipart upload,
// which SweepUploads (run by OpenS3) aborts.
func TestS3CrashedUploadIsInvisibleAndSwept(t *testing.T) {
	t.Parallel()
	bothServers(t, testS3CrashedUploadIsInvisibleAndSwept)
}

func testS3CrashedUploadIsInvisibleAndSwept(t *testing.T, f *s3Server) {
	bucket := f.newBucket()
	s := f.open(t, "s3://"+bucket+"/pre")
	w, err := s.Create(t.Context(), "x/crashed")
	if err != nil {
		t.Fatal(err)
	}
	if err := blobtest.Fill(w, 9, blob.S3MinPartSize+1); err != nil {
		t.Fatal(err)
	}
	// Crash: w is dropped, neither committed nor aborted.
	// An upload under another prefix belongs to someone else.
	other := f.open(t, "s3://"+bucket+"/other")
	w2, err := other.Create(t.Context(), "y")
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Abort()
	if err := blobtest.Fill(w2, 10, blob.S3MinPartSize+1); err != nil {
		t.Fatal(err)
	}
	if got := f.incomplete(t, bucket); got != 2 {
		t.Fatalf("want 2 uploads in flight, got %d", got)
	}
	if _, err := s.Stat(t.Context(), "x/crashed"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("crashed upload visible: %v", err)
	}
	// Not yet old enough: nothing is swept.
	if n, err := s.SweepUploads(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of young uploads: n=%d err=%v", n, err)
	}
	// A restarted daemon sweeps on open.
	opts := f.opts()
	opts.SweepAge = time.Nanosecond
	time.Sleep(10 * time.Millisecond)
	s2, err := blob.OpenS3(t.Context(), "s3://"+bucket+"/pre", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := f.incomplete(t, bucket); got != 1 {
		t.Fatalf("after sweep want only the other prefix's upload, got %d", got)
	}
	if err := w2.Commit(); err != nil {
		t.Fatalf("sweep broke another prefix's upload: %v", err)
	}
	if keys := f.objectKeys(t, bucket); len(keys) != 1 || keys[0] != "other/y" {
		t.Fatalf("bucket holds %v", keys)
	}
}

func TestS3FailedPartAbortsUpload(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t)
	bucket := f.newBucket()
	s := f.open(t, "s3://"+bucket)
	blobtest.Put(t, s, "f/file", []byte("previous"))
	f.setFail(func(r *http.Request) bool { return r.URL.Query().Get("partNumber") == "2" })
	w, err := s.Create(t.Context(), "f/file")
	if err != nil {
		t.Fatal(err)
	}
	err = blobtest.Fill(w, 1, 3*blob.S3MinPartSize)
	if err == nil {
		t.Fatal("write succeeded although part 2 failed")
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Fatal("write after a failed part succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Fatal("commit after a failed part succeeded")
	}
	f.setFail(nil)
	if got := f.incomplete(t, bucket); got != 0 {
		t.Fatalf("failed upload left %d multipart uploads", got)
	}
	if got, _ := blobtest.Get(t, s, "f/file"); string(got) != "previous" {
		t.Fatalf("failed overwrite changed content to %d bytes", len(got))
	}
}

func TestS3FailedCompleteLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t)
	bucket := f.newBucket()
	s := f.open(t, "s3://"+bucket)
	f.setFail(func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("uploadId") })
	w, err := s.Create(t.Context(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := blobtest.Fill(w, 2, blob.S3MinPartSize+7); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("commit succeeded although complete failed")
	}
	f.setFail(nil)
	if _, err := s.Stat(t.Context(), "g"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("blob visible after failed complete: %v", err)
	}
	if got := f.incomplete(t, bucket); got != 0 {
		t.Fatalf("failed complete left %d uploads", got)
	}
}

func TestS3FailedSmallPutLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t)
	s := f.open(t, "s3://"+f.newBucket())
	f.setFail(func(r *http.Request) bool { return r.Method == http.MethodPut })
	w, err := s.Create(t.Context(), "small")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	if err := w.Commit(); err == nil {
		t.Fatal("commit succeeded although the PUT failed")
	}
	f.setFail(nil)
	if _, err := s.Stat(t.Context(), "small"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("blob visible after failed put: %v", err)
	}
}

// Keys written by other tools that are not valid blob names (folder
// markers, traversal-looking keys, temp names) are never listed.
func TestS3ListSkipsForeignKeys(t *testing.T) { bothServers(t, testS3ListSkipsForeignKeys) }

func testS3ListSkipsForeignKeys(t *testing.T, f *s3Server) {
	bucket := f.newBucket()
	s := f.open(t, "s3://"+bucket+"/pre")
	raw := f.raw(t)
	foreign := []string{"pre/dir/", "pre/a//b", "pre/../up", "pre/.tmp-x", "pre/d/.tmp-y", "prefix-sibling", "other/z"}
	for _, k := range append([]string{"pre/ok"}, foreign...) {
		if _, err := raw.PutObject(t.Context(), bucket, k, bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{}); err != nil {
			if k == "pre/ok" {
				t.Fatalf("put %s: %v", k, err)
			}
			// A real server may refuse such a key outright (SeaweedFS
			// refuses "../"); then there is nothing to skip.
			t.Logf("server refused foreign key %s: %v", k, err)
		}
	}
	// What the server really holds: a real server may store a key under a
	// normalised name (SeaweedFS turns "a//b" into "a/b", a valid blob
	// name that List rightly shows). Every key held verbatim must be
	// skipped.
	held := map[string]bool{}
	for _, k := range f.objectKeys(t, bucket) {
		held[k] = true
	}
	verbatim := map[string]bool{}
	for _, k := range foreign {
		if held[k] {
			verbatim[k] = true
		}
	}
	infos, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	sawOK := false
	for _, in := range infos {
		if verbatim["pre/"+in.Name] {
			t.Fatalf("list shows foreign key %q: %+v", in.Name, infos)
		}
		if !held["pre/"+in.Name] {
			t.Fatalf("list shows %q, which the bucket does not hold", in.Name)
		}
		sawOK = sawOK || (in.Name == "ok" && in.Size == 1)
	}
	if !sawOK {
		t.Fatalf("list = %+v, want ok", infos)
	}
	if len(verbatim) == len(foreign) && len(infos) != 1 {
		t.Fatalf("list = %+v, want only ok", infos)
	}
}

// Cancelling the context given to Create does not fail an upload in
// flight (a daemon that begins shutting down lets requests finish, and
// Local ignores ctx too); reads and lists do honour their context.
func TestS3WriterOutlivesCreateContext(t *testing.T) {
	t.Parallel()
	bothServers(t, testS3WriterOutlivesCreateContext)
}

func testS3WriterOutlivesCreateContext(t *testing.T, f *s3Server) {
	s := f.open(t, "s3://"+f.newBucket())
	for _, size := range []int64{4, blob.S3MinPartSize + 3} {
		ctx, cancel := context.WithCancel(t.Context())
		w, err := s.Create(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if err := blobtest.Fill(w, 5, size/2); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := blobtest.Fill(w, 6, size-size/2); err != nil {
			t.Fatalf("write after cancel: %v", err)
		}
		if err := w.Commit(); err != nil {
			t.Fatalf("commit after cancel: %v", err)
		}
		if st, err := s.Stat(t.Context(), "c"); err != nil || st.Size != size {
			t.Fatalf("after commit: %+v %v", st, err)
		}
		if _, err := s.List(ctx, ""); err == nil {
			t.Fatal("list with a cancelled context succeeded")
		}
		if _, _, err := s.Open(ctx, "c"); err == nil {
			t.Fatal("open with a cancelled context succeeded")
		}
	}
}

// A part the server never answers fails within RequestTimeout, and the
// upload is aborted rather than left behind.
// Sequential: it times a deadline, which the package's parallel S3 cases
// (race-built, on two cores) starved by seconds; starved, the abort the
// client gave up waiting for also landed after the listing that checks it.
func TestS3StuckPartTimesOut(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket()
	opts := f.opts()
	opts.RequestTimeout = 300 * time.Millisecond
	s, err := blob.OpenS3(t.Context(), "s3://"+bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	f.setFail(func(r *http.Request) bool {
		if r.URL.Query().Get("partNumber") == "1" {
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
			return true
		}
		return false
	})
	w, err := s.Create(t.Context(), "stuck")
	if err != nil {
		t.Fatal(err)
	}
	// The data is made before the clock starts: a race build on a loaded
	// machine takes seconds to generate it, which is not what is timed.
	var data bytes.Buffer
	if err := blobtest.Fill(&data, 8, blob.S3MinPartSize+1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := w.Write(data.Bytes()); err == nil {
		t.Fatal("write of a stuck part succeeded")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("stuck part took %v to fail", d)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("commit after a stuck part succeeded")
	}
	if got := f.incomplete(t, bucket); got != 0 {
		t.Fatalf("stuck upload left %d multipart uploads", got)
	}
	if _, err := s.Stat(t.Context(), "stuck"); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("stuck blob visible: %v", err)
	}
}

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	good := []struct{ in, bucket, prefix string }{
		{"s3://bkt", "bkt", ""},
		{"s3://bkt/", "bkt", ""},
		{"s3://my-bucket/gatehouse", "my-bucket", "gatehouse/"},
		{"s3://my.bucket/a/b/", "my.bucket", "a/b/"},
	}
	for _, c := range good {
		b, p, err := blob.ParseS3URL(c.in)
		if err != nil || b != c.bucket || p != c.prefix {
			t.Errorf("ParseS3URL(%q) = %q, %q, %v; want %q, %q", c.in, b, p, err, c.bucket, c.prefix)
		}
	}
	for _, in := range []string{
		"", "bkt/x", "file:///tmp", "http://bkt/x", "s3://", "s3:///x", "s3://BKT/x", "s3://b/x?region=eu",
		"s3://user:pw@bkt/x", "s3://bkt/../x", "s3://bkt/a//b", "s3://bkt/.tmp-x", "s3://bkt/a\\b", "s3://bkt/x#frag",
		"s3://a/x", "s3://" + strings.Repeat("b", 64),
	} {
		if b, p, err := blob.ParseS3URL(in); err == nil {
			t.Errorf("ParseS3URL(%q) = %q, %q; want an error", in, b, p)
		}
	}
}

func TestOpenS3Refuses(t *testing.T) {
	t.Parallel()
	f := newFakeS3(t)
	if _, err := blob.OpenS3(t.Context(), "s3://no-such-bucket/x", f.opts()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket: %v", err)
	}
	opts := f.opts()
	opts.PartSize = 1 << 20
	if _, err := blob.OpenS3(t.Context(), "s3://"+f.newBucket(), opts); err == nil {
		t.Fatal("part size below the S3 minimum accepted")
	}
	opts = f.opts()
	opts.SecretKey = "wrong"
	// gofakes3 does not check signatures, so only the shape is tested here:
	// a bad key must not make OpenS3 panic or hang.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if s, err := blob.OpenS3(ctx, "s3://"+f.newBucket(), opts); err == nil {
		s.Close()
	}
}

// A real server checks SigV4 signatures: a wrong secret is refused at open,
// and so is a wrong access key.
func TestS3WrongCredentialsRefusedRealServer(t *testing.T) {
	t.Parallel()
	f := newRealS3(t)
	bucket := f.newBucket()
	for _, mod := range []func(*blob.S3Options){
		func(o *blob.S3Options) { o.SecretKey = "wrong-secret" },
		func(o *blob.S3Options) { o.AccessKey = "no-such-key" },
	} {
		opts := f.opts()
		mod(&opts)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		s, err := blob.OpenS3(ctx, "s3://"+bucket, opts)
		cancel()
		if err == nil {
			s.Close()
			t.Fatalf("open with credentials %q/%q succeeded", opts.AccessKey, opts.SecretKey)
		}
	}
}

func TestS3OptionsFromEnv(t *testing.T) {
	t.Setenv(blob.EnvS3Endpoint, "http://127.0.0.1:9000")
	t.Setenv(blob.EnvS3AccessKey, "ak")
	t.Setenv(blob.EnvS3SecretKey, "sk")
	t.Setenv(blob.EnvS3Region, "eu-central-1")
	t.Setenv(blob.EnvS3Insecure, "true")
	o := blob.S3OptionsFromEnv()
	if o.Endpoint != "http://127.0.0.1:9000" || o.AccessKey != "ak" || o.SecretKey != "sk" || o.Region != "eu-central-1" || !o.Insecure {
		t.Fatalf("options from env: %+v", o)
	}
	t.Setenv(blob.EnvS3Insecure, "")
	if blob.S3OptionsFromEnv().Insecure {
		t.Fatal("empty GATEHOUSE_S3_INSECURE means secure")
	}
}

// BenchmarkS3Upload streams 64 MiB per op through the multipart path.
func BenchmarkS3Upload(b *testing.B) {
	f := &fakeS3{backend: s3mem.New()}
	f.srv = httptest.NewServer(gofakes3.New(f.backend).Server())
	defer f.srv.Close()
	if err := f.backend.CreateBucket("bench"); err != nil {
		b.Fatal(err)
	}
	opts := f.opts()
	opts.PartSize = blob.S3DefaultPartSize
	s, err := blob.OpenS3(b.Context(), "s3://bench/b", opts)
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	chunk := make([]byte, 256<<10)
	b.SetBytes(size)
	for b.Loop() {
		w, err := s.Create(b.Context(), "obj")
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		// Keep the in-memory server from accumulating old versions.
		if err := s.Remove(b.Context(), "obj"); err != nil {
			b.Fatal(err)
		}
	}
}
