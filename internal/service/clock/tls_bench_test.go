package clock

import (
	"context"
	"crypto/tls"
	"testing"

	"gatehouse/internal/cputime"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/tlsutil/tlstest"
)

// BenchmarkTLSCost puts the clock's plain and TLS ports side by side: a
// TIME round trip on an open session (the per-request cost of TLS) and a
// whole connection (connect, TLS handshake, key exchange, one TIME).
//
//	go test ./internal/service/clock/ -run '^$' -bench TLSCost -benchtime 2000x
func BenchmarkTLSCost(b *testing.B) {
	p := tlstest.New(b)
	_, plain, tlsAddr := netsvctest.StartTLS(b, "clock", newServer(b, DefaultConfig(), Env{}), netsvctest.DefaultLimits, p.ServerConfig(b, false))
	cfg := p.ClientConfig(b, "")
	for _, tc := range []struct {
		name string
		addr string
		tls  *tls.Config
	}{{"plain", plain, nil}, {"tls", tlsAddr, cfg}} {
		d := &Dialer{TLS: tc.tls}
		b.Run("time/"+tc.name, func(b *testing.B) {
			s, err := d.Dial(context.Background(), tc.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if _, err := s.Time(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
		b.Run("connection/"+tc.name, func(b *testing.B) {
			start := cputime.Process()
			for b.Loop() {
				s, err := d.Dial(context.Background(), tc.addr)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Time(); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			// Both ends' CPU: the clients resume their TLS sessions
			// (tlsutil.ClientConfig keeps them), as a long-running client
			// does; a client that starts anew pays a full handshake.
			cputime.Report(b, start, 1, "cpu-ns/op")
		})
	}
}
