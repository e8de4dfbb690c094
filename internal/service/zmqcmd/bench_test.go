package zmqcmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// BenchmarkComputeRoundTrip measures compute round trips over real
// loopback ZMTP connections, with 1 and 8 clients each holding one
// outstanding request (docs/zmqcmd.md, "Benchmark method"; Go client instead of pyzmq).
// log=off is the test runtime (logging disabled); log=info formats every
// request line at the daemon's default level, as the daemon does, into
// io.Discard (the sink's write is the daemon's, not the service's, cost).
func BenchmarkComputeRoundTrip(b *testing.B) {
	for _, logged := range []bool{false, true} {
		for _, clients := range []int{1, 8} {
			name := fmt.Sprintf("log=off/clients=%d", clients)
			if logged {
				name = fmt.Sprintf("log=info/clients=%d", clients)
			}
			b.Run(name, func(b *testing.B) {
				benchRoundTrip(b, clients, logged)
			})
		}
	}
}

func benchRoundTrip(b *testing.B, clients int, logged bool) {
	s, err := New(DefaultConfig(), Env{})
	if err != nil {
		b.Fatal(err)
	}
	var addr string
	if logged {
		srv := netsvc.New(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})), nil)
		if err := srv.Listen(netsvc.Service{Name: "zmqcmd", Addr: "127.0.0.1:0", Handler: s, Limits: netsvctest.DefaultLimits}); err != nil {
			b.Fatal(err)
		}
		srv.Start()
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		})
		addr = srv.Addr("zmqcmd").String()
	} else {
		_, addr = netsvctest.Start(b, "zmqcmd", s, netsvctest.DefaultLimits)
	}
	cs := make([]*Client, clients)
	for i := range cs {
		cs[i] = dial(b, addr)
	}
	req := ComputeRequest("(6 + 4) * 8")
	want := `{"status": "success", "result": 80}`
	var next atomic.Int64
	var bad atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func(c *Client) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				got, err := c.RoundTrip(context.Background(), req)
				if err != nil || string(got) != want {
					bad.Add(1)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	if bad.Load() > 0 {
		b.Fatalf("%d bad replies", bad.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rt/s")
}

// BenchmarkServerSide runs the server's per-request work (decode, evaluate,
// encode, frame) without sockets, so allocations and CPU are the server's
// alone.
func BenchmarkServerSide(b *testing.B) {
	s, err := New(DefaultConfig(), Env{})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	begin := func(ctx context.Context, _ string) (context.Context, func(netsvc.Status)) {
		return ctx, func(netsvc.Status) {}
	}
	body := [][]byte{ComputeRequest("(6 + 4) * 8")}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = s.handle(context.Background(), begin, log, buf[:0], body)
	}
	if string(buf) != `{"status": "success", "result": 80}` {
		b.Fatalf("reply %q", buf)
	}
}
