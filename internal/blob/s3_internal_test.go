package blob

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// A Writer must never hold more than one part in memory, whatever the
// sizes of the Writes it gets.
func TestS3WriterMemoryIsBoundedByPartSize(t *testing.T) {
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
