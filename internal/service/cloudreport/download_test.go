package cloudreport

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc/netsvctest"
)

// The streamed encryption gives payloads the ordinary Decrypt reads, for
// both dialects, whatever the write sizes.
func TestEncryptWriterRoundTrip(t *testing.T) {
	t.Parallel()
	dc, err := NewDelphiCodec("D5F2FDLV", legacycrypto.SHA1, true, 1<<22)
	if err != nil {
		t.Fatal(err)
	}
	dcRaw, _ := NewDelphiCodec("D5F2FDLV", legacycrypto.MD5, false, 1<<22)
	codecs := map[string]Codec{"seed": NewSeedCodec(workedKey, 1<<22), "delphi": dc, "delphi-raw": dcRaw}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, c := range codecs {
		for _, n := range []int{0, 1, 15, 16, 17, 1023, 1025, streamChunk - 1, streamChunk, streamChunk + 1, 300001} {
			plain := make([]byte, n)
			for i := range plain {
				plain[i] = "ABCDEFGH=\r\n0123456789"[rng.IntN(21)]
			}
			if name == "delphi-raw" {
				plain = append([]byte("K="), plain...)
			}
			var out bytes.Buffer
			w := c.EncryptWriter(&out)
			for p := plain; len(p) > 0; {
				k := min(len(p), 1+rng.IntN(5000))
				if _, err := w.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := c.Decrypt(out.String())
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s, %d bytes: round trip failed (%v)", name, n, err)
			}
		}
	}
}

func writeRandomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Issue: four clients that ask for a DWNL and never read pinned several
// copies of the file each (+80 MB). The reply is now streamed: what they
// pin is the pipeline's buffers. Measured the same way (12 MiB file, heap
// in use after GC), the code that built the reply whole pinned +188 MiB;
// streamed it is about +5 MiB; the bound is 16 MiB for all four.
//
// Not parallel: it measures this process's heap, which other tests' work
// would move (parallel tests start only after the sequential ones end).
func TestDownloadMemoryBoundedForNonReaders(t *testing.T) {
	e := start(t, conf(func(c *Config) { c.MaxConcurrentDownloads = 5 }), netsvctest.DefaultLimits)
	const size = 12 << 20
	writeRandomFile(t, filepath.Join(e.dir, "updates", "big.bin"), size)
	base := heapInuse()
	for range 4 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.(*net.TCPConn).SetReadBuffer(4096)
		if _, err := c.Write([]byte("INIT ID=1\r\nDWNL F=big.bin\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return e.srv.dlActive.Load() == 4 })
	delta := int64(heapInuse()) - int64(base)
	t.Logf("heap in use with 4 non-reading downloads of %d MiB: %+.1f MiB", size>>20, float64(delta)/(1<<20))
	if delta > 16<<20 {
		t.Fatalf("4 non-reading downloads pin %.1f MiB of heap (bound 16 MiB)", float64(delta)/(1<<20))
	}
	// A reading client (the fifth slot) gets a file of many chunks intact.
	mid := writeRandomFile(t, filepath.Join(e.dir, "updates", "mid.bin"), 1<<20+7)
	c, err := Dial(context.Background(), e.addr, ClientOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Init(3); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Download("mid.bin")
	if err != nil || !bytes.Equal(got, mid) {
		t.Fatalf("download: %d bytes, %v", len(got), err)
	}
}

// A reader that takes the reply steadily, each write completing within the
// write timeout, is still cut as soon as it falls below the progressive
// minimum rate after rate_grace, so it cannot hold a download slot for
// hours. The minimum here is absurdly high to make the cut certain.
func TestSlowDownloadReaderCut(t *testing.T) {
	t.Parallel()
	lim := netsvctest.DefaultLimits
	lim.WriteTimeout = 5 * time.Second
	lim.RateGrace = time.Second
	e := start(t, conf(func(c *Config) { c.DownloadMinRate = 1 << 30 }), lim)
	writeRandomFile(t, filepath.Join(e.dir, "updates", "big.bin"), 8<<20)
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("INIT ID=1\r\nDWNL F=big.bin\r\n")); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	done := make(chan int64)
	go func() {
		// ~1.6 MB/s: the 11 MB reply would take about 7 s.
		buf := make([]byte, 32<<10)
		var got int64
		for i := 0; i < 2000; i++ {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := io.ReadFull(c, buf)
			got += int64(n)
			if err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		done <- got
	}()
	waitFor(t, func() bool { return strings.Contains(e.logs.String(), "DWNL not completed") })
	if d := time.Since(began); d > 4*time.Second {
		t.Fatalf("cut after %s", d)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "i/o timeout") {
		t.Fatalf("cut for another reason than its write deadline:\n%s", logs)
	}
	if got := <-done; got >= 11<<20 {
		t.Fatalf("the whole reply (%d bytes) arrived", got)
	}
}

// The streamed DWNL reply in the delphi dialect, end to end with the Go
// client (zlib on and off).
func TestDelphiStreamedDownload(t *testing.T) {
	t.Parallel()
	for _, z := range []bool{true, false} {
		e := start(t, conf(func(c *Config) { c.Dialect = "delphi"; c.DelphiZlib = z }), netsvctest.DefaultLimits)
		want := writeRandomFile(t, filepath.Join(e.dir, "updates", "app.zip"), 100_003)
		c, err := Dial(context.Background(), e.addr, ClientOptions{Dialect: Delphi, HST: "WS-17", DelphiZlib: z})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Init(2); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Info(Fields{{"ID", "00003e3b"}}); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Download("app.zip")
		c.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("zlib=%v: %d bytes, %v", z, len(got), err)
		}
	}
}
