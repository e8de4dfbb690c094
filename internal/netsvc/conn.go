package netsvc

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is the connection a Handler serves. It is a net.Conn whose Read and
// Write carry the service's deadlines: every Read waits at most IdleTimeout
// (or until the handshake deadline while a handshake runs), every Write at
// most WriteTimeout. It also carries the connection's id, logger and metrics.
type Conn struct {
	net.Conn
	id      uint64
	ip      string
	log     *slog.Logger
	svc     *svcState
	limits  Limits
	in, out atomic.Int64

	mu       sync.Mutex
	readBy   time.Time // absolute bound on Reads (handshake, message); zero when none
	busy     bool      // a request is being served
	draining bool      // shutdown has begun
}

// ID is the connection's number, unique within the daemon's lifetime.
func (c *Conn) ID() uint64 { return c.id }

// Log is the connection's logger (attributes service, conn, remote).
func (c *Conn) Log() *slog.Logger { return c.log }

// Limits are the deadlines and limits in force for this connection.
func (c *Conn) Limits() Limits { return c.limits }

// BytesIn and BytesOut count what crossed the connection so far.
func (c *Conn) BytesIn() int64  { return c.in.Load() }
func (c *Conn) BytesOut() int64 { return c.out.Load() }

// StartHandshake bounds every following Read by one absolute deadline,
// HandshakeTimeout from now, until EndHandshake is called.
func (c *Conn) StartHandshake() { c.bound(c.limits.HandshakeTimeout) }

// EndHandshake returns Reads to the idle deadline.
func (c *Conn) EndHandshake() { c.bound(0) }

// StartMessage bounds the rest of one request's bytes by MessageTimeout from
// now, so a peer that trickles a byte just inside the idle timeout cannot
// hold a half-sent request forever. Call it when a request's first byte has
// arrived, and EndMessage when the request is complete.
func (c *Conn) StartMessage() { c.bound(c.limits.MessageTimeout) }

// EndMessage returns Reads to the idle deadline.
func (c *Conn) EndMessage() { c.bound(0) }

func (c *Conn) bound(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readBy = time.Time{}
	if d > 0 {
		c.readBy = time.Now().Add(d)
	}
}

// HandshakeFailed counts a failed handshake (bad key, bad signature, …).
func (c *Conn) HandshakeFailed(reason string) {
	c.svc.m.handshakeFailures.WithLabelValues(c.svc.name).Inc()
	c.log.Info("handshake failed", "reason", reason)
}

// Request marks the start of one request named cmd and returns the function
// that ends it with a status ("ok", "error", or a protocol code). It feeds
// the per-command counters and the latency histogram, and tells shutdown
// that the connection is busy: a connection that is between requests when
// the daemon drains is closed at once, a busy one is let finish.
func (c *Conn) Request(cmd string) (done func(status string)) {
	start := time.Now()
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	var once sync.Once
	return func(status string) {
		once.Do(func() {
			c.svc.requestDone(cmd, status, time.Since(start))
			c.mu.Lock()
			c.busy = false
			if c.draining {
				_ = c.Conn.SetReadDeadline(time.Now())
			}
			c.mu.Unlock()
		})
	}
}

// Draining reports whether the daemon is shutting down; a session should
// finish the request at hand and return.
func (c *Conn) Draining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// beginDrain is called once when shutdown starts: an idle connection has its
// pending Read ended at once.
func (c *Conn) beginDrain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.busy {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	// The deadline is set under the lock so a drain that starts now either
	// is seen here or overrides this deadline afterwards, never before it.
	c.mu.Lock()
	if c.draining && !c.busy {
		c.mu.Unlock()
		return 0, errDraining
	}
	dl := time.Time{}
	if c.limits.IdleTimeout > 0 {
		dl = time.Now().Add(c.limits.IdleTimeout)
	}
	if !c.readBy.IsZero() && (dl.IsZero() || c.readBy.Before(dl)) {
		dl = c.readBy
	}
	err := c.Conn.SetReadDeadline(dl)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	c.svc.bytesIn.Add(float64(n))
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	if c.limits.WriteTimeout > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.limits.WriteTimeout)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	c.svc.bytesOut.Add(float64(n))
	return n, err
}

// SetReadDeadline is managed by Conn; handlers use StartHandshake and the
// limits instead. It is kept so Conn still satisfies net.Conn, and is a no-op.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline likewise only sets the write side; reads are managed.
func (c *Conn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

type ctxKey struct{}

// FromContext returns the Conn a handler's context belongs to, or nil.
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}
