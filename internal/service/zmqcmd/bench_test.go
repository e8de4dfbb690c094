package zmqcmd

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkComputeRoundTrip measures compute round trips over real
// loopback ZMTP connections, with 1 and 8 clients each holding one
// outstanding request (the spec §9 method, Go client instead of pyzmq).
func BenchmarkComputeRoundTrip(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			addr := startServer(b, DefaultConfig())
			cs := make([]*Client, clients)
			for i := range cs {
				cs[i] = dial(b, addr)
			}
			req := ComputeRequest("(6 + 4) * 8")
			want := `{"status": "success", "result": 80}`
			var next atomic.Int64
			var bad atomic.Int64
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
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	for _, expr := range []string{"(6 + 4) * 8", "2**0.5**2", "len(str(10**4299))", "9**9**9"} {
		b.Run(expr, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Evaluate(expr, DefaultLimits)
			}
		})
	}
}
