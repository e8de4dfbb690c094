package clock

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"gatehouse/internal/netsvc/netsvctest"
)

// BenchmarkTimeRoundTrip measures closed-loop TIME round trips over
// loopback with 1 and 8 concurrent sessions, the method of the original's
// baseline (docs/clock.md, "Benchmark method"; about 9.6 k req/s with 1
// client, 15 k with 8, on the original).
func BenchmarkTimeRoundTrip(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			_, addr := netsvctest.Start(b, "clock", newServer(b, DefaultConfig(), Env{}), netsvctest.DefaultLimits)
			sessions := make([]*Session, clients)
			for i := range sessions {
				s, err := Dial(context.Background(), addr)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				sessions[i] = s
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			b.ResetTimer()
			for _, s := range sessions {
				wg.Go(func() {
					for left.Add(-1) >= 0 {
						if _, err := s.Time(); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkKeyExchange measures connect + key exchange + close.
func BenchmarkKeyExchange(b *testing.B) {
	_, addr := netsvctest.Start(b, "clock", newServer(b, DefaultConfig(), Env{}), netsvctest.DefaultLimits)
	for b.Loop() {
		s, err := Dial(context.Background(), addr)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
