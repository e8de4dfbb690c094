package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/cputime"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// discardS3 is the least an S3 server must answer for a Writer: it checks
// each body against its signed length and SHA-256 and keeps nothing, so a
// benchmark measures the Writer (and minio-go), not a store.
type discardS3 struct {
	mu    sync.Mutex
	parts []int64 // body sizes of the part PUTs, in order
	bad   []string
	fail  func(r *http.Request) bool // answer this PUT 500 after reading it
	// failEarly answers this PUT 500 after one byte of its body: the
	// client's write loop may still be sending the rest when it retries.
	failEarly func(r *http.Request) bool
}

func (d *discardS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodHead:
		return // bucket exists
	case r.Method == http.MethodPost && q.Has("uploads"):
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodPut && d.failEarly != nil && d.failEarly(r):
		io.CopyN(io.Discard, r.Body, 1)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected early</Message></Error>`)
	case r.Method == http.MethodPut:
		h := discardHashPool.Get().(hash.Hash)
		defer discardHashPool.Put(h)
		h.Reset()
		n, err := io.Copy(h, r.Body)
		sum := hex.EncodeToString(h.Sum(nil))
		d.mu.Lock()
		if err != nil || n != r.ContentLength || sum != r.Header.Get("X-Amz-Content-Sha256") {
			d.bad = append(d.bad, fmt.Sprintf("%s: %d bytes of %d, %v", r.URL, n, r.ContentLength, err))
		}
		if q.Has("partNumber") {
			d.parts = append(d.parts, n)
		}
		fail := d.fail != nil && d.fail(r)
		d.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"e"`)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unexpected", http.StatusBadRequest)
	}
}

var discardHashPool = sync.Pool{New: func() any { return sha256.New() }}

func newDiscardS3(tb testing.TB, partSize int64) (*S3, *discardS3) {
	tb.Helper()
	d := &discardS3{}
	srv := httptest.NewServer(d)
	tb.Cleanup(srv.Close)
	s, err := OpenS3(tb.Context(), "s3://bkt/x", S3Options{
		Endpoint: "http://" + srv.Listener.Addr().String(), AccessKey: "a", SecretKey: "b",
		Region: "us-east-1", PartSize: partSize, SweepAge: -1, MaxRetries: 1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s, d
}

// BenchmarkS3Writer streams one blob per iteration, in the 512 KiB writes
// the backup upload makes, through a Writer to an in-process server that
// verifies and discards it. B/op is everything the upload allocates
// (Writer, minio-go, net/http, the server's small reads); peak-rss-MiB
// is the process's VmHWM over the run, reset after a GC at the start
// (Linux), so it includes the test binary's own footprint.
func BenchmarkS3Writer(b *testing.B) {
	for _, size := range []int64{4 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			s, d := newDiscardS3(b, 0)
			benchWriter(b, s, size)
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.bad) > 0 {
				b.Fatal(d.bad)
			}
		})
	}
}

// BenchmarkS3WriterRealServer is BenchmarkS3Writer's 256 MiB case against
// the real S3 server of the test run (GATEHOUSE_TEST_S3_*, .ci/s3 start),
// in a fresh bucket: the rate a daemon's upload gets from SeaweedFS.
func BenchmarkS3WriterRealServer(b *testing.B) {
	endpoint := os.Getenv("GATEHOUSE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		b.Skip("no real S3 server (GATEHOUSE_TEST_S3_ENDPOINT unset; .ci/s3 start)")
	}
	opts := S3Options{Endpoint: "http://" + endpoint, AccessKey: os.Getenv("GATEHOUSE_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("GATEHOUSE_TEST_S3_SECRET_KEY"), Region: "us-east-1", SweepAge: -1}
	raw, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	bucket := fmt.Sprintf("ghb-%d", time.Now().UnixNano())
	if err := raw.MakeBucket(b.Context(), bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		raw.RemoveObject(ctx, bucket, "f", minio.RemoveObjectOptions{})
		raw.RemoveBucket(ctx, bucket)
	})
	s, err := OpenS3(b.Context(), "s3://"+bucket, opts)
	if err != nil {
		b.Fatal(err)
	}
	benchWriter(b, s, 256<<20)
}

func benchWriter(b *testing.B, s *S3, size int64) {
	src := make([]byte, 512<<10)
	for i := range src {
		src[i] = byte(i * 7)
	}
	b.SetBytes(size)
	runtime.GC()
	runtime.GC()
	cputime.ResetPeakRSS()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := s.Create(b.Context(), "f")
		if err != nil {
			b.Fatal(err)
		}
		for left := size; left > 0; {
			n := min(left, int64(len(src)))
			if _, err := w.Write(src[:n]); err != nil {
				b.Fatal(err)
			}
			left -= n
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cputime.StatusKiB("VmHWM"))/1024, "peak-rss-MiB")
}
