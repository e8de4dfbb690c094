package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProfile runs one service's driver with the daemon inside the
// test process, so a CPU profile shows the server's hot paths next to the
// client's (focus on ServeConn for the server). This is how the misses in
// docs/performance.md were explained:
//
//	go test -run '^$' -bench 'Profile/zmqcmd$' -benchtime 1x -cpuprofile zmq.prof ./internal/bench
//	go tool pprof -top -focus ServeConn zmq.prof
//
// GATEHOUSE_TEST_BENCH_D (default 2s) and GATEHOUSE_TEST_BENCH_SIZE (bytes,
// default 64 MiB) size the run; 8 clients.
func BenchmarkProfile(b *testing.B) {
	dur := 2 * time.Second
	if v, err := time.ParseDuration(os.Getenv("GATEHOUSE_TEST_BENCH_D")); err == nil && v > 0 {
		dur = v
	}
	size := int64(64 << 20)
	if v, err := strconv.ParseInt(os.Getenv("GATEHOUSE_TEST_BENCH_SIZE"), 10, 64); err == nil && v > 0 {
		size = v
	}
	for _, target := range []string{"cloudreport", "backup", "clock", "e2eeftp", "zmqcmd"} {
		b.Run(target, func(b *testing.B) {
			drv, ok := driver(target)
			if !ok {
				b.Fatalf("no driver for %s", target)
			}
			for b.Loop() {
				e := &Env{Opts: Options{Duration: dur, Clients: []int{8}, Size: size, Scratch: b.TempDir(),
					InProcess: true}, sh: &shared{}}
				e.Scratch = e.Opts.Scratch
				figs, err := drv(context.Background(), e)
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range figs {
					b.Logf("%s ×%d: %.0f req/s %.1f MB/s p50 %.3f ms, %d errors %s", f.Name, f.Clients,
						f.ReqPerSec, f.MBps, f.P50ms, f.Errors, f.Note)
					if f.ReqPerSec > 0 {
						b.ReportMetric(f.ReqPerSec, "req/s")
					}
					if f.MBps > 0 {
						b.ReportMetric(f.MBps, "MB/s")
					}
				}
			}
		})
	}
}
