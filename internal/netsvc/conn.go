package netsvc

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is the connection a Handler serves. It is a net.Conn whose Read and
// Write carry the service's deadlines: every Read waits at most IdleTimeout
// (or until the handshake deadline while a handshake runs), every Write at
// most WriteTimeout, each plus at most one grain, min(timeout/16, 1 s)
// (see armRead: the socket's deadline is re-armed about once per grain, not
// on every call). It also carries the connection's id, logger and metrics.
type Conn struct {
	net.Conn
	id       uint64
	ip       string
	log      *slog.Logger
	svc      *svcState
	limits   Limits
	in, out  atomic.Int64
	tls      *tls.Conn   // the TLS layer on a TLS listener's connection; nil on a plain one
	tlsDone  atomic.Bool // tls's handshake has succeeded (info may then ask for its state)
	started  time.Time
	identity atomic.Pointer[string] // who the client is, as the service knows it (SetIdentity)

	mu       sync.Mutex
	readBy   mono   // absolute bound on Reads (handshake, message); 0 when none
	readKind string // which bound readBy is: "handshake" or "message"
	busy     bool   // a request is being served
	command  string // its name, for /connz
	draining bool   // shutdown has begun

	// The deadlines last set on the socket, and which limit each is, so a
	// Read or Write re-arms one only when it has to (see armRead). Their
	// zero value, no deadline, is a fresh socket's.
	rdSet, wrSet armed
	// The granularity of the idle and write deadlines (coarseGrain).
	idleGrain, writeGrain mono

	// A transfer in progress (StartTransfer): from xferStart on, after the
	// grace period, the bytes moved since xferBase must keep up with xferRate.
	xferStart mono
	xferBase  int64
	xferRate  int64

	// The request in progress (Request): when it began, its series, the
	// context it runs under, and the one done function of the connection.
	reqStart    mono
	reqSeries   *cmdSeries
	reqCtx      context.Context // the ctx last passed to Request …
	reqDetached context.Context // … and context.WithoutCancel of it
	doneFn      func(Status)

	cut string // the deadline that ended a Read or Write, once one did
}

// mono is a reading of the monotonic clock: nanoseconds since the process
// began. Deadlines are kept as mono, not time.Time: one reading is one
// clock call where time.Now is two (wall and monotonic).
type mono int64

var epoch = time.Now()

func now() mono { return mono(time.Since(epoch)) }

// time is the moment m as a time.Time for SetReadDeadline and the like
// (the zero Time for 0, no deadline).
func (m mono) time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(m))
}

// armed is a deadline set on the socket (0: none) and which limit it is.
type armed struct {
	at   mono
	kind string
}

// unknown marks a socket deadline set outside armRead/armWrite (a drain,
// SetDeadline, a failed set): the next Read or Write sets its own.
var unknown = armed{at: -1, kind: "?"}

// coarseGrain is how far the idle or write deadline of a socket may lie
// beyond the exact one (timeout after the Read or Write began) before a
// Read or Write re-arms it: timeout/16, at most 1 s. Re-arming a socket
// deadline modifies a runtime timer; with the grain, a connection that
// makes many calls a second re-arms it about once per grain instead of on
// every call, and the cut comes at most one grain late, never early.
func coarseGrain(timeout time.Duration) mono {
	return mono(min(timeout/16, time.Second))
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

// TLSState is the connection's TLS state (after the handshake, which
// netsvc completes before the Handler runs), or nil on a plain listener's
// connection.
func (c *Conn) TLSState() *tls.ConnectionState {
	if c.tls == nil {
		return nil
	}
	st := c.tls.ConnectionState()
	return &st
}

// PeerIdentity is the subject common name of the client certificate the
// connection's TLS handshake verified (mutual TLS), or false when there is
// none: a plain connection, or a TLS listener without client certificates.
// Services whose protocol names a client map it to that name.
func PeerIdentity(c *Conn) (string, bool) {
	if c == nil || c.tls == nil {
		return "", false
	}
	st := c.tls.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return "", false
	}
	return st.VerifiedChains[0][0].Subject.CommonName, true
}

// closeNow closes the connection without a TLS close_notify, which could
// wait up to 5 s for a peer that does not read.
func (c *Conn) closeNow() error {
	if c.tls != nil {
		return c.tls.NetConn().Close()
	}
	return c.Conn.Close()
}

// RemoteIP is the client's address without the port.
func (c *Conn) RemoteIP() string { return c.ip }

// StartHandshake bounds every following Read by one absolute deadline,
// HandshakeTimeout from now, until EndHandshake is called.
func (c *Conn) StartHandshake() { c.bound(c.limits.HandshakeTimeout, deadlineHandshake) }

// EndHandshake returns Reads to the idle deadline.
func (c *Conn) EndHandshake() { c.bound(0, "") }

// StartMessage bounds the rest of one request's bytes by MessageTimeout from
// now, so a peer that trickles a byte just inside the idle timeout cannot
// hold a half-sent request forever. Call it when a request's first byte has
// arrived, and EndMessage when the request is complete.
func (c *Conn) StartMessage() { c.bound(c.limits.MessageTimeout, deadlineMessage) }

// EndMessage returns Reads to the idle deadline.
func (c *Conn) EndMessage() { c.bound(0, "") }

func (c *Conn) bound(d time.Duration, kind string) {
	by := mono(0)
	if d > 0 {
		by = now() + mono(d)
	}
	c.mu.Lock()
	c.readBy, c.readKind = by, kind
	if by == 0 {
		c.readKind = ""
	}
	c.mu.Unlock()
}

// StartTransfer begins a bulk transfer (a file body in either direction)
// under the progressive minimum rate Limits.MinRate: once Limits.RateGrace
// has passed, the bytes read and written since this call must at every
// moment be at least MinRate × (time since the call − RateGrace). The
// check runs as data moves: every Read and Write gets a deadline at the
// moment the peer falls behind, so a client that trickles a byte every few
// seconds is cut as soon as it is behind, not after a deadline computed from
// a declared size. A cut is logged at info and counted as
// gatehouse_connections_closed_total{reason="too_slow"}. EndTransfer ends
// the rule. With MinRate 0 the rule is off.
func (c *Conn) StartTransfer() { c.StartTransferRate(c.limits.MinRate) }

// StartTransferRate is StartTransfer with a service-specific rate in
// bytes/s (0: Limits.MinRate).
func (c *Conn) StartTransferRate(bytesPerSec int64) {
	if bytesPerSec <= 0 {
		bytesPerSec = c.limits.MinRate
	}
	start := now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xferStart, c.xferBase, c.xferRate = start, c.in.Load()+c.out.Load(), bytesPerSec
}

// EndTransfer ends the rule StartTransfer began.
func (c *Conn) EndTransfer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xferStart, c.xferRate = 0, 0
}

// transferDeadline is the moment the transfer falls behind its minimum
// rate if no more than extra further bytes move, or 0 without a rule.
// Called with c.mu held.
func (c *Conn) transferDeadline(extra int64) mono {
	if c.xferRate <= 0 || c.xferStart == 0 {
		return 0
	}
	moved := c.in.Load() + c.out.Load() - c.xferBase + extra
	ahead := time.Duration(float64(moved) / float64(c.xferRate) * float64(time.Second))
	return c.xferStart + mono(c.limits.RateGrace+ahead)
}

// The deadlines that can end a session, as logged and counted.
const (
	deadlineIdle      = "idle_timeout"
	deadlineHandshake = "handshake_timeout"
	deadlineMessage   = "message_timeout"
	deadlineWrite     = "write_timeout"
	deadlineTooSlow   = "too_slow"
)

// ClosedReasons are the values of gatehouse_connections_closed_total's
// reason label.
var ClosedReasons = []string{deadlineIdle, deadlineHandshake, deadlineMessage, deadlineWrite, deadlineTooSlow}

// earlier returns the earlier of two deadlines (0 means none) with its kind.
func earlier(a mono, ak string, b mono, bk string) (mono, string) {
	if b == 0 || (a != 0 && b >= a) {
		return a, ak
	}
	return b, bk
}

// noteTimeout remembers which deadline ended an I/O call, unless shutdown
// did (a drain sets an immediate deadline of its own).
func (c *Conn) noteTimeout(err error, kind string) {
	if err == nil || kind == "" || !errors.Is(err, os.ErrDeadlineExceeded) {
		return
	}
	c.mu.Lock()
	if c.cut == "" && !c.draining {
		c.cut = kind
	}
	c.mu.Unlock()
}

// CutBy reports which deadline ended the session's I/O ("idle_timeout",
// "handshake_timeout", "message_timeout", "write_timeout", "too_slow"), or
// "" when none did.
func (c *Conn) CutBy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// RateLimited counts one request refused by a per-address rate limit
// (AddrLimiter), what naming what it tried ("register"). Logged at debug
// only: a flood must not flood the log too.
func (c *Conn) RateLimited(what string) {
	c.svc.m.rateLimited.WithLabelValues(c.svc.name, what).Inc()
	c.log.Debug("rate limited", "what", what)
}

// HandshakeFailed counts a failed handshake (bad key, bad signature, …).
func (c *Conn) HandshakeFailed(reason string) {
	c.svc.m.handshakeFailures.WithLabelValues(c.svc.name).Inc()
	c.log.Info("handshake failed", "reason", reason)
}

// Request marks the start of one request named cmd. It returns the context
// the request must run under and the function that ends it with a status
// (one of the six Status values):
//
//	ctx, done := c.Request(ctx, "CMD")
//	status := handle(ctx, …) // every store and blob call takes this ctx
//	done(status)
//
// The returned context keeps ctx's values but not its cancellation: ctx is
// cancelled as soon as the daemon starts to drain, and the request at hand
// must still finish (its store write, its blob commit). The connection's
// deadlines still bound it, and Shutdown closes whatever is left at the
// drain timeout. Deriving a request's context anywhere else is the mistake
// this signature exists to prevent.
//
// Request feeds the per-command counters and the latency histogram, and
// tells shutdown that the connection is busy: a connection that is between
// requests when the daemon drains is closed at once, a busy one is let
// finish.
//
// A connection's requests are sequential: done ends the connection's
// request in progress, and calling it again is a no-op until the next
// Request. (done is one function per connection, and the detached context
// is reused while ctx stays the same, so a request allocates nothing.)
func (c *Conn) Request(ctx context.Context, cmd string) (context.Context, func(status Status)) {
	start := now()
	c.mu.Lock()
	if !sameCtx(ctx, c.reqCtx) {
		c.reqCtx, c.reqDetached = ctx, context.WithoutCancel(ctx)
	}
	if c.reqSeries == nil || c.reqSeries.cmd != cmd {
		c.reqSeries = c.svc.series(cmd)
	}
	if c.doneFn == nil {
		c.doneFn = c.done
	}
	c.busy, c.command, c.reqStart = true, cmd, start
	rctx, done := c.reqDetached, c.doneFn
	c.mu.Unlock()
	return rctx, done
}

// sameCtx reports whether a and b are the same context (== would panic on
// a context type that is not comparable).
func sameCtx(a, b context.Context) bool {
	return a != nil && b != nil && reflect.TypeOf(a).Comparable() && a == b
}

// done ends the request in progress (Request's done function).
func (c *Conn) done(status Status) {
	end := now()
	c.mu.Lock()
	if !c.busy {
		c.mu.Unlock()
		return
	}
	cs, took := c.reqSeries, time.Duration(end-c.reqStart)
	c.busy, c.command = false, ""
	if c.draining {
		_ = c.Conn.SetReadDeadline(time.Now())
		c.rdSet = unknown
	}
	c.mu.Unlock()
	cs.done(status, took)
	if status == StatusClosed {
		// A client that gives up (Ctrl-C, a lost link) is not a server
		// fault: one info line, never an error.
		c.log.Info("request ended: the client went away", "command", cs.cmd, "duration", took)
	}
}

// SetIdentity records who the client is as the service knows it (a client
// id, a key fingerprint), shown in the admin /connz view. Never a secret.
func (c *Conn) SetIdentity(id string) { c.identity.Store(&id) }

// ConnInfo describes one live connection (the admin /connz view).
type ConnInfo struct {
	Service  string    `json:"service"`
	ID       uint64    `json:"id"`
	Remote   string    `json:"remote"`
	TLS      bool      `json:"tls,omitempty"`
	Identity string    `json:"identity,omitempty"`
	Since    time.Time `json:"since"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
	Command  string    `json:"command,omitempty"` // the request in progress, if any
}

func (c *Conn) info() ConnInfo {
	in := ConnInfo{Service: c.svc.name, ID: c.id, Remote: c.Conn.RemoteAddr().String(), TLS: c.tls != nil,
		Since: c.started, BytesIn: c.in.Load(), BytesOut: c.out.Load()}
	if p := c.identity.Load(); p != nil {
		in.Identity = *p
	} else if c.tlsDone.Load() {
		// Only once the handshake is over: tls.Conn's ConnectionState
		// waits for a handshake in progress (up to handshake_timeout,
		// at the peer's pace), and Conns calls this under the
		// service's lock.
		if id, ok := PeerIdentity(c); ok {
			in.Identity = id
		}
	}
	c.mu.Lock()
	in.Command = c.command
	c.mu.Unlock()
	return in
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
		c.rdSet = unknown
	}
}

// armRead sets the socket's read deadline for a Read starting now, unless
// the one already set will do, and returns which limit it is. Called with
// c.mu held.
//
// The absolute bounds (handshake, message, transfer rate) are exact: the
// socket gets exactly the earliest of them whenever it has a different
// one. The idle deadline is coarse: while it is the earliest, a deadline
// already set between now+IdleTimeout and idleGrain later is kept (still
// below the absolute bounds); otherwise the socket gets the later end of
// that window. So an idle connection is cut between IdleTimeout and
// IdleTimeout + min(IdleTimeout/16, 1 s) after its last Read began, never
// earlier, and a busy one re-arms the timer about once per grain.
func (c *Conn) armRead(t mono) (string, error) {
	want, kind := mono(0), ""
	if c.limits.IdleTimeout > 0 {
		want, kind = t+mono(c.limits.IdleTimeout), deadlineIdle
	}
	xfer := c.transferDeadline(0)
	want, kind = earlier(want, kind, c.readBy, c.readKind)
	want, kind = earlier(want, kind, xfer, deadlineTooSlow)
	at, ok := pick(c.rdSet, want, kind, deadlineIdle, c.idleGrain, c.readBy, xfer)
	if ok {
		return kind, nil
	}
	if err := c.Conn.SetReadDeadline(at.time()); err != nil {
		c.rdSet = unknown
		return kind, err
	}
	c.rdSet = armed{at, kind}
	return kind, nil
}

// pick is the deadline to arm for want of the given kind, or ok when the
// armed one (set) will do. The coarse kind (idle, write) keeps an armed
// deadline of its kind anywhere in [want, want+grain], capped by the exact
// bounds a and b (0: none), and otherwise arms the window's later end; any
// other kind is exact.
func pick(set armed, want mono, kind, coarse string, grain, a, b mono) (at mono, ok bool) {
	if kind != coarse {
		return want, set.at == want && set.kind == kind
	}
	hi := want + grain
	hi, _ = earlier(hi, "", a, "")
	hi, _ = earlier(hi, "", b, "")
	return hi, set.kind == coarse && set.at >= want && set.at <= hi
}

// armWrite is armRead for a Write of n bytes starting at t: the write
// deadline is coarse as the idle one (writeGrain), the transfer rate's
// exact.
func (c *Conn) armWrite(t mono, n int64) (string, error) {
	want, kind := mono(0), ""
	if c.limits.WriteTimeout > 0 {
		want, kind = t+mono(c.limits.WriteTimeout), deadlineWrite
	}
	xfer := c.transferDeadline(n)
	want, kind = earlier(want, kind, xfer, deadlineTooSlow)
	at, ok := pick(c.wrSet, want, kind, deadlineWrite, c.writeGrain, xfer, 0)
	if ok {
		return kind, nil
	}
	if err := c.Conn.SetWriteDeadline(at.time()); err != nil {
		c.wrSet = unknown
		return kind, err
	}
	c.wrSet = armed{at, kind}
	return kind, nil
}

func (c *Conn) Read(p []byte) (int, error) {
	t := now()
	// The deadline is set under the lock so a drain that starts now either
	// is seen here or overrides this deadline afterwards, never before it.
	c.mu.Lock()
	if c.draining && !c.busy {
		c.mu.Unlock()
		return 0, errDraining
	}
	kind, err := c.armRead(t)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	if err != nil {
		c.noteTimeout(err, kind)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	t := now()
	c.mu.Lock()
	kind, err := c.armWrite(t, int64(len(p)))
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	if err != nil {
		c.noteTimeout(err, kind)
	}
	return n, err
}

// SetReadDeadline is managed by Conn; handlers use StartHandshake and the
// limits instead. It is kept so Conn still satisfies net.Conn, and is a no-op.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline likewise only sets the write side (until the next Write,
// which sets its own); reads are managed.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrSet = unknown
	return c.Conn.SetWriteDeadline(t)
}

// SetWriteDeadline sets the write side until the next Write, which sets
// its own (the armed deadline is forgotten, so that Write re-arms).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

type ctxKey struct{}

// FromContext returns the Conn a handler's context belongs to, or nil.
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(ctxKey{}).(*Conn)
	return c
}
