package e2eeftp

import (
	"context"
	"io"
	"testing"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/tlsutil/tlstest"
)

// BenchmarkTLSTransfer puts a GET of 8 MiB on the plain port next to the
// same GET on the TLS port (MB/s is per MiB moved): the cost of the TLS
// layer on top of the protocol's own encryption.
//
//	go test ./internal/service/e2eeftp/ -run '^$' -bench TLSTransfer -benchtime 5x
func BenchmarkTLSTransfer(b *testing.B) {
	const n = 8 << 20
	f := newFixtureB(b)
	p := tlstest.New(b)
	_, _, tlsAddr := netsvctest.StartTLS(b, "e2eeftp", f.srv, netsvctest.DefaultLimits, p.ServerConfig(b, false))
	if err := f.client.Send(context.Background(), "bench.bin", newPattern(n), n); err != nil {
		b.Fatal(err)
	}
	overTLS := *f.client
	overTLS.Addr, overTLS.TLS = tlsAddr, p.ClientConfig(b, "")
	for name, c := range map[string]*Client{"plain": f.client, "tls": &overTLS} {
		b.Run("get/"+name, func(b *testing.B) {
			b.SetBytes(n)
			for b.Loop() {
				got, err := c.Get(context.Background(), "bench.bin", io.Discard)
				if err != nil || got != n {
					b.Fatalf("got %d: %v", got, err)
				}
			}
		})
	}
}
