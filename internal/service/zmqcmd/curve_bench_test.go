package zmqcmd

import (
	"context"
	"strings"
	"testing"
	"time"
)

// BenchmarkCurveRequest is the cost of CURVE per request: one client, one
// outstanding compute request over loopback, on the NULL port and on the
// CURVE port (handshake excluded; see BenchmarkCurveHandshake), and with
// a 64 KiB echo of parameters (the reply carries it back) for the per-byte
// part. The per-MiB cost of the MESSAGE boxes alone is
// internal/zmtp BenchmarkConnMiB.
func BenchmarkCurveRequest(b *testing.B) {
	cs := newCurveSetup(b)
	cfg := DefaultConfig()
	nullAddr, curveAddr := startBothB(b, cfg, cs)
	big := strings.Repeat("x", 60<<10)
	for _, port := range []string{"null", "curve"} {
		for _, req := range []struct {
			name string
			body []byte
		}{
			{"compute", ComputeRequest("(6 + 4) * 8")},
			{"echo-60KiB", OSRequest("echo", []string{big})},
		} {
			b.Run(port+"/"+req.name, func(b *testing.B) {
				var c *Client
				var err error
				if port == "null" {
					c, err = Dial(context.Background(), nullAddr, 10*time.Second)
				} else {
					c, err = DialCurve(context.Background(), curveAddr, 10*time.Second, cs.server.Public, cs.cert(b, cs.alice))
				}
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(int64(len(req.body)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := c.RoundTrip(context.Background(), req.body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCurveHandshake is the cost of connecting: TCP + greeting +
// handshake, NULL against CURVE (five X25519 operations on each side).
func BenchmarkCurveHandshake(b *testing.B) {
	cs := newCurveSetup(b)
	nullAddr, curveAddr := startBothB(b, DefaultConfig(), cs)
	alice := cs.cert(b, cs.alice)
	for _, port := range []string{"null", "curve"} {
		b.Run(port, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				var c *Client
				var err error
				if port == "null" {
					c, err = Dial(context.Background(), nullAddr, 10*time.Second)
				} else {
					c, err = DialCurve(context.Background(), curveAddr, 10*time.Second, cs.server.Public, alice)
				}
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
