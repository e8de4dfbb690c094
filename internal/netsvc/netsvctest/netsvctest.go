// Package netsvctest serves a Handler on a loopback port for tests, through
// the same netsvc runtime the daemon uses.
package netsvctest

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
)

// DefaultLimits are generous limits for protocol tests.
var DefaultLimits = netsvc.Limits{MaxConns: 256, IdleTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, HandshakeTimeout: 5 * time.Second, MessageTimeout: 5 * time.Second, RateGrace: 10 * time.Second}

// Start serves h as service name on 127.0.0.1:0 and returns the server and
// its address; the server is shut down (2 s drain) when t ends.
func Start(t testing.TB, name string, h netsvc.Handler, l netsvc.Limits) (*netsvc.Server, string) {
	t.Helper()
	srv := netsvc.New(nil, nil)
	if err := srv.Listen(netsvc.Service{Name: name, Addr: "127.0.0.1:0", Handler: h, Limits: l}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, srv.Addr(name).String()
}

// StartTLS is Start with a second, TLS listener (cfg) for the same
// handler; it returns the plain and the TLS address.
func StartTLS(t testing.TB, name string, h netsvc.Handler, l netsvc.Limits, cfg *tls.Config) (srv *netsvc.Server, plain, tlsAddr string) {
	t.Helper()
	srv = netsvc.New(nil, nil)
	if err := srv.Listen(netsvc.Service{Name: name, Addr: "127.0.0.1:0", Handler: h, Limits: l,
		TLSAddr: "127.0.0.1:0", TLSConfig: cfg}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, srv.Addr(name).String(), srv.TLSAddr(name).String()
}

// Eventually waits until cond holds, checking every few milliseconds, and
// fails t naming what when it does not hold within max. It is for waiting
// on an effect that has no event to wait on (a counter, a row, a server's
// state); a test that can wait on a channel does that instead.
func Eventually(t testing.TB, what string, max time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for tick := time.Millisecond; !cond(); tick = min(2*tick, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, max)
		}
		time.Sleep(tick)
	}
}

// Draining waits until srv has begun to shut down (its handlers' context
// is cancelled and its listeners no longer accept).
func Draining(t testing.TB, srv *netsvc.Server, name string) {
	t.Helper()
	Eventually(t, name+" draining", 5*time.Second, func() bool { return !srv.Healthy()[name] })
}
