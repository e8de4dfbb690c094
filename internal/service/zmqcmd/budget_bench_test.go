package zmqcmd

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
)

// floodExpression is the costliest expression the default budget lets
// run: two 4,096-bit modular powers (hidden from the estimate in strings)
// before the budget stops it, about 0.15 s of CPU per request here.
var floodExpression = strings.TrimSuffix(strings.Repeat("pow(3, int('9'*1233), 2**4096-3)+", 10), "+")

// BenchmarkLatencyUnderComputeFlood reports the latency of another
// service (a loopback TCP echo in this process, standing in for clock's
// TIME or e2eeftp's LIST) and of a zmqcmd fast-path compute while N
// clients loop floodExpression. Compare idle with flood=16 (default
// max_computations: half the CPUs) and flood=16/unbounded (max_computations
// 16, what the service did before the bound). It reports, it does not
// assert: run with -benchtime=20x (an unbounded op takes about a second).
func BenchmarkLatencyUnderComputeFlood(b *testing.B) {
	for _, c := range []struct {
		name     string
		flood    int
		maxComps int
	}{{"idle", 0, 0}, {"flood=16", 16, 0}, {"flood=16/unbounded", 16, 16}} {
		b.Run(c.name, func(b *testing.B) { benchFlood(b, c.flood, c.maxComps) })
	}
}

func benchFlood(b *testing.B, flood, maxComps int) {
	cfg := DefaultConfig()
	cfg.MaxComputations = maxComps
	cfg.ComputeWait = time.Minute
	s, err := New(cfg, Env{})
	if err != nil {
		b.Fatal(err)
	}
	_, addr := netsvctest.Start(b, "zmqcmd", s, netsvctest.DefaultLimits)
	echoAddr := startEcho(b)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < flood; i++ {
		c := dial(b, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := c.RoundTrip(ctx, ComputeRequest(floodExpression)); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Let the flood fill the slots before measuring: wait until every
	// slot is taken (bounded: at most 5 s).
	if flood > 0 {
		netsvctest.Eventually(b, "computation slots taken by the flood", 5*time.Second, func() bool {
			return s.gate.inflight.Load() >= int64(min(flood, s.MaxComputations()))
		})
	}

	echo, err := net.Dial("tcp", echoAddr)
	if err != nil {
		b.Fatal(err)
	}
	defer echo.Close()
	fast := dial(b, addr)
	var echoLat, fastLat []time.Duration
	msg := []byte("TIME\n")
	buf := make([]byte, len(msg))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := echo.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(echo, buf); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := fast.RoundTrip(context.Background(), ComputeRequest("(6 + 4) * 8")); err != nil {
			b.Fatal(err)
		}
		echoLat = append(echoLat, t1.Sub(t0))
		fastLat = append(fastLat, time.Since(t1))
	}
	b.StopTimer()
	report := func(name string, l []time.Duration) {
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), name+"-p99-µs")
	}
	report("echo", echoLat)
	report("fastpath", fastLat)
	b.ReportMetric(float64(s.MaxComputations()), "max_computations")
}

// startEcho runs a loopback TCP echo server for the benchmark's other
// service.
func startEcho(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}
