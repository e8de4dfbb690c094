package clock

import (
	"context"
	"net"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
)

// defaultLimits are the limits the daemon gives the service with the
// default configuration.
func defaultLimits() netsvc.Limits {
	c := DefaultConfig().Common
	return netsvc.Limits{
		MaxConns:         c.MaxConns,
		IdleTimeout:      c.IdleTimeout,
		WriteTimeout:     c.WriteTimeout,
		HandshakeTimeout: c.HandshakeTimeout,
	}
}

// With the shipped defaults, more idle connections than the common limit of
// 1024 (half silent, half idle after the key exchange, which may stay for
// the hours-long idle timeout) must not lock out the next client: the issue
// asks that thousands of idle connections not stop service for others.
func TestDefaultLimitsSurviveManyIdle(t *testing.T) {
	t.Parallel()
	const idle = 1100
	l := defaultLimits()
	if l.IdleTimeout < time.Hour || l.HandshakeTimeout < 5*time.Second || l.HandshakeTimeout > 10*time.Second {
		t.Fatalf("default deadlines %+v: want a generous idle and a 5-10 s handshake deadline (docs/clock.md, Compatibility rules)", l)
	}
	srv, addr := start(t, DefaultConfig(), l)
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range idle {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%2 == 1 {
			if _, err := ParseKey(exchange(t, c, []byte("169"))); err != nil {
				t.Fatalf("idle connection %d: %v", i, err)
			}
		}
	}
	waitActive(t, srv, idle)
	t0 := time.Now()
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Time(); err != nil || !timeRE.MatchString(got) {
		t.Fatalf("client after %d idle connections: %q, %v", idle, got, err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("client after %d idle connections took %v", idle, d)
	}
}
