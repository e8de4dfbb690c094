package backup

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, fmt.Errorf("pattern exhausted")
	}
	n := int(min(int64(len(p)), r.left))
	for i := range n {
		p[i] = byte(i * 31)
	}
	r.left -= int64(n)
	return n, nil
}

// rssKiB is this process's resident set (server and client both run here).
func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
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
			e := newEnv(b, Options{MaxFileSize: 2 << 30})
			c := e.newClient("bench")
			runtime.GC()
			base := rssKiB()
			var peak atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if r := rssKiB(); r > peak.Load() {
						peak.Store(r)
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				res, err := c.Upload(context.Background(), "big.bin", &patternReader{left: size}, size)
				if err != nil || !res.Verified {
					b.Fatal(res, err)
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(peak.Load())/1024, "peak-rss-MiB")
			b.ReportMetric(float64(peak.Load()-base)/1024, "rss-growth-MiB")
		})
	}
}

// BenchmarkRegisterKeyExchange is the spec's "pairs/s" baseline (92.7/s for
// the original): one 1025 and one 1026, each on its own connection.
func BenchmarkRegisterKeyExchange(b *testing.B) {
	e := newEnv(b, Options{})
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
