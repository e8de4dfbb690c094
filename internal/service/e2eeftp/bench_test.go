package e2eeftp

import (
	"context"
	"crypto/rand"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/cputime"
)

// benchBytes is the transfer size: 1 GiB unless E2EEFTP_BENCH_BYTES says.
func benchBytes(b *testing.B) int64 {
	if s := os.Getenv("E2EEFTP_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			b.Fatalf("E2EEFTP_BENCH_BYTES=%q", s)
		}
		return n
	}
	return 1 << 30
}

// patternReader yields n bytes cycling over a random 1 MiB block, so the
// source costs nothing next to the cipher.
type patternReader struct {
	block []byte
	off   int
	left  int64
	// drained is when the last byte was read.
	drained time.Time
}

func newPattern(n int64) *patternReader {
	p := &patternReader{block: make([]byte, 1<<20), left: n}
	rand.Read(p.block)
	return p
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := copy(b, p.block[p.off:])
	p.off = (p.off + n) % len(p.block)
	p.left -= int64(n)
	if p.left == 0 {
		p.drained = time.Now()
	}
	return n, nil
}

// BenchmarkSend uploads benchBytes over loopback through the Go client and
// the real server (streaming decrypt, temp blob, fsync, rename). Run with
// -benchtime=1x for one 1 GiB transfer. tail-ms is the time from the
// client's last plaintext byte read to the server's "226" (the last
// chunk's cipher work both sides, then the blob's commit: fsync, rename);
// cpu-ns/B is the process's CPU (client and server) per byte.
func BenchmarkSend(b *testing.B) {
	n := benchBytes(b)
	f := newFixtureB(b)
	b.SetBytes(n)
	b.ReportAllocs()
	cputime.ResetPeakRSS()
	var tail time.Duration
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		src := newPattern(n)
		if err := f.client.Send(context.Background(), "bench.bin", src, n); err != nil {
			b.Fatal(err)
		}
		tail += time.Since(src.drained)
	}
	b.StopTimer()
	cputime.Report(b, start, n, "cpu-ns/B")
	b.ReportMetric(tail.Seconds()*1e3/float64(b.N), "tail-ms")
	b.ReportMetric(float64(cputime.StatusKiB("VmHWM"))/1024, "peak-RSS-MiB")
}

// BenchmarkGet downloads benchBytes (streaming encrypt from disk) into
// io.Discard through the Go client.
func BenchmarkGet(b *testing.B) {
	n := benchBytes(b)
	f := newFixtureB(b)
	if err := f.client.Send(context.Background(), "bench.bin", newPattern(n), n); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	cputime.ResetPeakRSS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := f.client.Get(context.Background(), "bench.bin", io.Discard)
		if err != nil || got != n {
			b.Fatalf("got %d: %v", got, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cputime.StatusKiB("VmHWM"))/1024, "peak-RSS-MiB")
}

// BenchmarkList is one full connection (handshake + LIST of 10 names), the
// original's LIST workload (docs/e2eeftp.md, "Benchmark method").
func BenchmarkList(b *testing.B) {
	f := newFixtureB(b)
	for i := 0; i < 10; i++ {
		w, _ := f.store.Create(context.Background(), sharedFolder+"file0"+strconv.Itoa(i)+".txt")
		w.Write(make([]byte, 100))
		w.Commit()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		names, err := f.client.List(context.Background())
		if err != nil || len(names) != 10 {
			b.Fatalf("%d %v", len(names), err)
		}
	}
}

// BenchmarkSeal is the in-process cipher bound of a transfer: AES-256-CBC
// + HMAC-SHA256 of benchBytes from memory to io.Discard, one goroutine.
// SEND and GET are reported as a fraction of it.
func BenchmarkSeal(b *testing.B) {
	n := benchBytes(b)
	var k Keys
	rand.Read(k.AES[:])
	rand.Read(k.MAC[:])
	iv := make([]byte, 16)
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := k.Seal(io.Discard, newPattern(n), n, iv); err != nil {
			b.Fatal(err)
		}
	}
}
