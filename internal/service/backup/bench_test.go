package backup

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/cputime"
	"gatehouse/internal/store/storetest"
)

// patternReader yields n deterministic bytes without holding them. It
// copies from a fixed pattern: filling byte by byte cost the benchmark a
// third of a core that then competed with the client and server it measures.
type patternReader struct{ left int64 }

var pattern = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i * 31)
	}
	return b
}()

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, fmt.Errorf("pattern exhausted")
	}
	n := int(min(int64(len(p)), r.left))
	for done := 0; done < n; {
		done += copy(p[done:n], pattern)
	}
	r.left -= int64(n)
	return n, nil
}

// BenchmarkUpload streams one file per iteration through register-once
// client → loopback → server → decrypt → blob, and reports the process's
// peak RSS while it runs: it stays flat whatever the size (the 1 GiB case
// is the acceptance run: go test -run X -bench 'Upload/1GiB' -benchtime 1x).
func BenchmarkUpload(b *testing.B) {
	for _, size := range []int64{1 << 20, 64 << 20, 1 << 30} {
		name := fmt.Sprintf("%dMiB", size>>20)
		if size >= 1<<30 {
			name = fmt.Sprintf("%dGiB", size>>30)
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.MaxFileSize = 2 << 30 })
			c := e.newClient("bench")
			rss := sampleRSS()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.Upload(context.Background(), "big.bin", &patternReader{left: size}, size)
				if err != nil || !res.Verified {
					b.Fatal(res, err)
				}
			}
			b.StopTimer()
			rss.report(b)
		})
	}
}

// BenchmarkRegisterKeyExchange is the original's "pairs/s" baseline (92.7/s for
// the original): one 1025 and one 1026, each on its own connection.
func BenchmarkRegisterKeyExchange(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := e.client("pair")
		if err := c.Register(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.ExchangeKeys(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkServerUpload isolates the server's side of an upload: the
// ciphertext is encrypted once, then sent over loopback with plain writes
// (no client-side cipher), answered 2103, and confirmed with 1029. The
// process's CPU per MiB is then almost all the server's, and, unlike MB/s,
// hardly moves when other processes load the machine.
func BenchmarkServerUpload(b *testing.B) {
	const size = 64 << 20
	for _, atRest := range []bool{false, true} {
		name := "plain"
		if atRest {
			name = "at-rest"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, func(c *Config) { c.MaxFileSize = 2 << 30; c.EncryptAtRest = atRest })
			c := e.newClient("bench")
			plain := make([]byte, size)
			(&patternReader{left: size}).Read(plain)
			ct, err := EncryptFile(c.AESKey, plain)
			if err != nil {
				b.Fatal(err)
			}
			msg := fileRequest(c.ID, nameField(b, "big.bin"), ct)
			want := CRC(ct)
			b.SetBytes(int64(len(ct)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			for i := 0; i < b.N; i++ {
				conn, err := net.Dial("tcp", e.addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				h, p, err := readResponse(conn)
				conn.Close()
				if err != nil || h.Code != RespFileCRC {
					b.Fatal(h, err)
				}
				if fr, _ := ParseFileResponse(p); fr.CRC != want {
					b.Fatal("crc mismatch")
				}
				if err := c.SendStatus(context.Background(), CodeCRCOK, "big.bin"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cputime.Process()-cpu0)/float64(time.Millisecond)/float64(b.N)/(size>>20), "cpu-ms/MiB")
		})
	}
}

// patternChecker accepts exactly the bytes patternReader produced (byte i
// is pattern[i mod 64 KiB], as Upload reads it in 512 KiB chunks).
type patternChecker struct{ pos int64 }

func (w *patternChecker) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		off := int((w.pos + int64(i)) % int64(len(pattern)))
		n := min(len(p)-i, len(pattern)-off)
		if string(p[i:i+n]) != string(pattern[off:off+n]) {
			return i, fmt.Errorf("restored bytes differ near offset %d", w.pos+int64(i))
		}
		i += n
	}
	w.pos += int64(len(p))
	return len(p), nil
}

// BenchmarkRestore uploads one file (untimed), then restores it per
// iteration through server (blob → encrypt) → loopback → client (decrypt,
// CRC) into a writer that checks every byte, and reports the process's
// peak RSS and its growth: flat whatever the size, plain and at rest. The
// 1 GiB case is the acceptance run:
// go test -run X -bench 'Restore/.*1GiB' -benchtime 1x ./internal/service/backup
func BenchmarkRestore(b *testing.B) {
	for _, atRest := range []bool{false, true} {
		for _, size := range []int64{1 << 20, 64 << 20, 1 << 30} {
			name := fmt.Sprintf("at_rest=%v/%dMiB", atRest, size>>20)
			if size >= 1<<30 {
				name = fmt.Sprintf("at_rest=%v/%dGiB", atRest, size>>30)
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b, func(c *Config) { c.MaxFileSize = 2 << 30; c.EncryptAtRest = atRest })
				c := e.newClient("bench")
				if res, err := c.Upload(context.Background(), "big.bin", &patternReader{left: size}, size); err != nil || !res.Verified {
					b.Fatal(res, err)
				}
				rss := sampleRSS()
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					w := &patternChecker{}
					res, err := c.Restore(context.Background(), "big.bin", 0, nil, 0, w)
					if err != nil || w.pos != size || res.Written != size {
						b.Fatal(res, err, w.pos)
					}
				}
				b.StopTimer()
				rss.report(b)
			})
		}
	}
}

// BenchmarkRestorePostgresS3 is BenchmarkRestore's byte-checked round trip
// on PostgreSQL + S3 (the in-process S3 fake). The fake keeps objects in
// this process's memory, so RSS is not reported here: constant memory is
// what BenchmarkRestore measures; this one shows the S3 path streams
// correctly at size.
// go test -run X -bench RestorePostgresS3 -benchtime 1x ./internal/service/backup
func BenchmarkRestorePostgresS3(b *testing.B) {
	db := storetest.Postgres(b)
	blobtest.FakeS3Env(b, "bench")
	s3, err := blob.OpenS3(context.Background(), "s3://bench/gh", blob.S3OptionsFromEnv())
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int64{1 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			e := newEnvOn(b, db, blob.Prefixed(s3, "backup"), func(c *Config) { c.MaxFileSize = 2 << 30 })
			c := e.newClient("bench")
			if res, err := c.Upload(context.Background(), "big.bin", &patternReader{left: size}, size); err != nil || !res.Verified {
				b.Fatal(res, err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := &patternChecker{}
				if res, err := c.Restore(context.Background(), "big.bin", 0, nil, 0, w); err != nil || w.pos != size {
					b.Fatal(res, err, w.pos)
				}
			}
		})
	}
}

// rssSampler records this process's peak RSS every 20 ms from its start
// (after a GC) until report.
type rssSampler struct {
	base int64
	peak atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup
}

func sampleRSS() *rssSampler {
	runtime.GC()
	s := &rssSampler{base: cputime.StatusKiB("VmRSS"), stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			if r := cputime.StatusKiB("VmRSS"); r > s.peak.Load() {
				s.peak.Store(r)
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

// report stops the sampler and reports the peak and the growth over the
// start.
func (s *rssSampler) report(b *testing.B) {
	close(s.stop)
	s.wg.Wait()
	b.ReportMetric(float64(s.peak.Load())/1024, "peak-rss-MiB")
	b.ReportMetric(float64(s.peak.Load()-s.base)/1024, "rss-growth-MiB")
}
