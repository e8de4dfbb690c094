package backup

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"gatehouse/internal/tlsutil"
)

// dialTLS runs the client's TLS handshake on nc within timeout.
func dialTLS(ctx context.Context, nc net.Conn, addr string, cfg *tls.Config, timeout time.Duration) (net.Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return tlsutil.Client(hctx, nc, addr, cfg)
}
