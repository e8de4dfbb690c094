package blob

import (
	"net/http/httptest"
	"path"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// A Writer must never hold more than one part in memory, whatever the
// sizes of the Writes it gets.
func TestS3WriterMemoryIsBoundedByPartSize(t *testing.T) {
	t.Parallel()
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	defer srv.Close()
	if err := be.CreateBucket("mem"); err != nil {
		t.Fatal(err)
	}
	s, err := OpenS3(t.Context(), "s3://mem/x", S3Options{
		Endpoint: "http://" + srv.Listener.Addr().String(), AccessKey: "a", SecretKey: "b",
		Region: "us-east-1", PartSize: S3MinPartSize, SweepAge: -1, MaxRetries: 1,
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
	for _, n := range []int{1, 100_000, 3*S3MinPartSize + 17, 70_000, S3MinPartSize - 1} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		got, err := w.Write(p)
		if err != nil || got != n {
			t.Fatalf("write %d: %d %v", n, got, err)
		}
		total += int64(n)
		if c := cap(w.buf); c > S3MinPartSize {
			t.Fatalf("after writing %d bytes the buffer holds %d, more than a part", total, c)
		}
		if want := total % S3MinPartSize; int64(len(w.buf)) != want {
			t.Fatalf("buffered %d, want %d", len(w.buf), want)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(t.Context(), "big")
	if err != nil || st.Size != total {
		t.Fatalf("stat %+v %v, want size %d", st, err, total)
	}
	if w.buf != nil {
		t.Fatal("committed writer still pins its buffer")
	}
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
