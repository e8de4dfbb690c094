// Package netsvc owns every listener of the daemon: accept loops, connection
// limits, deadlines, per-connection logging and metrics, panic recovery and
// graceful shutdown. A protocol implements Handler and never touches a
// listener, the way a net/http Handler never does.
package netsvc

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Handler serves one accepted connection. ctx is cancelled when the daemon
// starts to shut down; the handler should finish the request at hand and
// return. Returning ends the connection (netsvc closes it). An error is
// logged at debug level: protocol errors are normal traffic.
type Handler interface {
	ServeConn(ctx context.Context, c *Conn) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn) error

func (f HandlerFunc) ServeConn(ctx context.Context, c *Conn) error { return f(ctx, c) }

// Limits bound one service's connections. Zero means "no limit" for each.
type Limits struct {
	MaxConns         int           // connections served at once; the excess is closed at once
	MaxConnsPerIP    int           // connections served at once from one client address
	IdleTimeout      time.Duration // longest wait in one Read (plus at most min(IdleTimeout/16, 1 s): see Conn)
	WriteTimeout     time.Duration // longest wait in one Write (likewise)
	HandshakeTimeout time.Duration // total time allowed between StartHandshake and EndHandshake
	MessageTimeout   time.Duration // total time allowed between StartMessage and EndMessage
	MinRate          int64         // bytes/s a transfer (StartTransfer) must keep up after RateGrace; 0: no rule
	RateGrace        time.Duration // time a transfer may take before MinRate applies
}

// Service is one protocol on one address.
type Service struct {
	Name    string
	Addr    string // host:port; port 0 picks a free one
	Handler Handler
	Limits  Limits
	// Commands, when set, are the request names whose series
	// (gatehouse_requests_total with status "ok", and the latency
	// histogram) exist at zero from the start.
	Commands []string
	// RateLimited, when set, are the "what" values of
	// gatehouse_rate_limited_total this service counts (Conn.RateLimited),
	// created at zero from the start.
	RateLimited []string
	// TLSAddr, when set, is a second address serving the same Handler
	// inside TLS with TLSConfig. Its connections share the service's
	// limits, metrics and drain with the plain ones; the TLS handshake runs
	// in the connection's goroutine under Limits.HandshakeTimeout, before
	// the Handler sees the connection (a failure is counted as a
	// handshake failure). Conn.TLSState tells the Handler which it has.
	TLSAddr   string
	TLSConfig *tls.Config
}

var errDraining = errors.New("netsvc: server is shutting down")

// TCP keepalive on every accepted connection, so that a peer that vanished
// (host down, cable pulled, NAT entry gone) is noticed within
// KeepAliveIdle + KeepAliveCount×KeepAliveInterval (2.5 min) even when a
// service's idle timeout is hours long. Go enables the same values by
// default; they are set here explicitly because services rely on them.
const (
	KeepAliveIdle     = 15 * time.Second
	KeepAliveInterval = 15 * time.Second
	KeepAliveCount    = 9
)

// keepAliveConfig is what every accepted connection gets: set on each
// one by Go's accept path, or inherited from the listening socket where
// the kernel copies it (listenConfig, keepalive_linux.go).
var keepAliveConfig = net.KeepAliveConfig{
	Enable: true, Idle: KeepAliveIdle, Interval: KeepAliveInterval, Count: KeepAliveCount}

var connSeq atomic.Uint64

type svcState struct {
	Service
	name   string
	ln     net.Listener
	tlsLn  net.Listener // nil without TLSAddr
	m      *Metrics
	active atomic.Int64
	mu     sync.Mutex
	conns  map[*Conn]struct{}
	perIP  map[string]int // active connections per client address (with MaxConnsPerIP)
	up     atomic.Bool

	// Bytes moved by the connections that have ended (under mu); the live
	// ones count their own (Conn.in, Conn.out), and the byte counters sum
	// both when scraped, so a Read or Write touches no shared counter.
	closedIn, closedOut int64

	// Request series resolved once per command, not per request: label
	// lookups hash every label value. Copied on write (a new command is
	// rare), so the lookup takes no lock.
	cmdsMu sync.Mutex
	cmds   atomic.Pointer[map[string]*cmdSeries]
}

// cmdSeries are one command's request series.
type cmdSeries struct {
	cmd      string
	latency  prometheus.Observer
	byStatus [6]atomic.Pointer[counter] // gatehouse_requests_total, per Statuses; nil until first used
	m        *Metrics
	svc      string
}

type counter struct{ prometheus.Counter }

func (cs *cmdSeries) done(status Status, took time.Duration) {
	cs.counter(status).Inc()
	cs.latency.Observe(took.Seconds())
}

// counter is the command's gatehouse_requests_total series for status.
// A command declared in Service.Commands has all six from the start; any
// other gets each with its first use, as a label lookup would.
func (cs *cmdSeries) counter(status Status) prometheus.Counter {
	i := statusIndex(status)
	if i < 0 {
		return cs.m.requests.WithLabelValues(cs.svc, cs.cmd, string(status))
	}
	if c := cs.byStatus[i].Load(); c != nil {
		return c.Counter
	}
	c := &counter{cs.m.requests.WithLabelValues(cs.svc, cs.cmd, string(status))}
	cs.byStatus[i].Store(c) // a racing twin stores the same series
	return c.Counter
}

// statusIndex is status's index in Statuses, or -1.
func statusIndex(s Status) int { return slices.Index(Statuses, s) }

// series returns cmd's request series, creating them on first use.
func (sv *svcState) series(cmd string) *cmdSeries {
	if p := sv.cmds.Load(); p != nil {
		if cs, ok := (*p)[cmd]; ok {
			return cs
		}
	}
	sv.cmdsMu.Lock()
	defer sv.cmdsMu.Unlock()
	old := map[string]*cmdSeries{}
	if p := sv.cmds.Load(); p != nil {
		if cs, ok := (*p)[cmd]; ok {
			return cs
		}
		old = *p
	}
	cs := &cmdSeries{cmd: cmd, latency: sv.m.latency.WithLabelValues(sv.name, cmd), m: sv.m, svc: sv.name}
	next := make(map[string]*cmdSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[cmd] = cs
	sv.cmds.Store(&next)
	return cs
}

// bytes is what the service's connections read and wrote so far.
func (sv *svcState) bytes() (in, out int64) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	in, out = sv.closedIn, sv.closedOut
	for c := range sv.conns {
		in += c.in.Load()
		out += c.out.Load()
	}
	return in, out
}

func newSvcState(sv Service, ln net.Listener, m *Metrics) *svcState {
	st := &svcState{Service: sv, name: sv.Name, ln: ln, m: m, conns: map[*Conn]struct{}{}, perIP: map[string]int{}}
	m.precreate(st)
	for _, cmd := range sv.Commands {
		cs := st.series(cmd)
		for _, status := range Statuses {
			cs.counter(status)
		}
	}
	for _, w := range sv.RateLimited {
		m.rateLimited.WithLabelValues(sv.Name, w)
	}
	return st
}

// Server runs a set of services.
type Server struct {
	log     *slog.Logger
	m       *Metrics
	ctx     context.Context
	cancel  context.CancelFunc
	svcs    []*svcState
	loops   sync.WaitGroup
	handles sync.WaitGroup
	workers workers
}

// New returns a Server that logs to log and feeds m (NewMetrics(nil) when nil).
func New(log *slog.Logger, m *Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{log: log, m: m, ctx: ctx, cancel: cancel, workers: workers{jobs: make(chan workerJob)}}
}

// Listen binds every service's address, or none: if one bind fails the ones
// already bound are closed and the error names the service and address.
func (s *Server) Listen(svcs ...Service) error {
	var bound []*svcState
	fail := func(err error) error {
		for _, b := range bound {
			b.ln.Close()
			if b.tlsLn != nil {
				b.tlsLn.Close()
			}
			s.m.bytesIn.retire(b)
			s.m.bytesOut.retire(b)
		}
		return err
	}
	for _, sv := range svcs {
		if sv.TLSAddr != "" && sv.TLSConfig == nil {
			return fail(fmt.Errorf("service %s: TLS address %s without a TLS configuration", sv.Name, sv.TLSAddr))
		}
		ln, err := listenConfig.Listen(context.Background(), "tcp", sv.Addr)
		if err != nil {
			return fail(fmt.Errorf("service %s cannot listen on %s: %w", sv.Name, sv.Addr, err))
		}
		st := newSvcState(sv, ln, s.m)
		bound = append(bound, st)
		if sv.TLSAddr != "" {
			if st.tlsLn, err = listenConfig.Listen(context.Background(), "tcp", sv.TLSAddr); err != nil {
				return fail(fmt.Errorf("service %s cannot listen for TLS on %s: %w", sv.Name, sv.TLSAddr, err))
			}
		}
	}
	s.svcs = append(s.svcs, bound...)
	return nil
}

// Attach adds services that have no listener: their connections are
// handed in with Serve. Addr and TLSAddr are ignored. Tests use it to
// serve in-memory connections (net.Pipe) through the daemon's own
// connection path; see netsvctest.Pipe.
func (s *Server) Attach(svcs ...Service) {
	for _, sv := range svcs {
		s.svcs = append(s.svcs, newSvcState(sv, nil, s.m))
	}
}

// Serve serves nc, a connection that did not come from a listener of s
// (one end of a net.Pipe), as a connection of the named service: the same
// path as an accepted one, with the service's connection limits, its
// deadlines on every Read and Write, metrics, logging, panic recovery and
// drain. The session runs in its own goroutine; the returned channel is
// closed once it has ended and nc is closed (or at once when the
// connection was refused by a limit). Serve must not be called once
// Shutdown has begun.
func (s *Server) Serve(name string, nc net.Conn) (ended <-chan struct{}, err error) {
	var sv *svcState
	for _, st := range s.svcs {
		if st.name == name {
			sv = st
		}
	}
	if sv == nil {
		return nil, fmt.Errorf("netsvc: no service %q", name)
	}
	if s.ctx.Err() != nil {
		return nil, errDraining
	}
	ch := make(chan struct{})
	c := s.admit(sv, nc, nil)
	if c == nil {
		close(ch)
		return ch, nil
	}
	go s.serve(sv, c, ch)
	return ch, nil
}

// Addr returns the bound address of the named service, or nil.
func (s *Server) Addr(name string) net.Addr {
	for _, sv := range s.svcs {
		if sv.name == name && sv.ln != nil {
			return sv.ln.Addr()
		}
	}
	return nil
}

// TLSAddr returns the bound TLS address of the named service, or nil when
// it has none.
func (s *Server) TLSAddr(name string) net.Addr {
	for _, sv := range s.svcs {
		if sv.name == name && sv.tlsLn != nil {
			return sv.tlsLn.Addr()
		}
	}
	return nil
}

// Start runs the accept loops and logs one line per service.
func (s *Server) Start() {
	for _, sv := range s.svcs {
		sv.up.Store(true)
		if sv.ln == nil {
			continue // attached: its connections come from Serve
		}
		s.log.Info("service listening", "service", sv.name, "addr", sv.ln.Addr().String(),
			"max_conns", sv.Limits.MaxConns)
		s.loops.Add(1)
		go s.acceptLoop(sv, sv.ln, nil)
		if sv.tlsLn != nil {
			s.log.Info("service listening (TLS)", "service", sv.name, "addr", sv.tlsLn.Addr().String())
			s.loops.Add(1)
			go s.acceptLoop(sv, sv.tlsLn, sv.TLSConfig)
		}
	}
}

// Healthy reports, per service, whether it is accepting connections.
func (s *Server) Healthy() map[string]bool {
	h := make(map[string]bool, len(s.svcs))
	for _, sv := range s.svcs {
		h[sv.name] = sv.up.Load()
	}
	return h
}

// Conns describes every live connection, by service then id.
func (s *Server) Conns() []ConnInfo {
	var out []ConnInfo
	for _, sv := range s.svcs {
		sv.mu.Lock()
		for c := range sv.conns {
			out = append(out, c.info())
		}
		sv.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b ConnInfo) int {
		if a.Service != b.Service {
			return strings.Compare(a.Service, b.Service)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Active returns how many connections the named service serves now.
func (s *Server) Active(name string) int64 {
	for _, sv := range s.svcs {
		if sv.name == name {
			return sv.active.Load()
		}
	}
	return 0
}

// acceptLoop accepts on ln; with tlsCfg its connections are wrapped in
// tls.Server (the handshake itself runs in serve, never here).
func (s *Server) acceptLoop(sv *svcState, ln net.Listener, tlsCfg *tls.Config) {
	defer s.loops.Done()
	defer sv.up.Store(false)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (EMFILE and the like): back off, never spin.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			s.log.Warn("accept failed", "service", sv.name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if c := s.admit(sv, nc, tlsCfg); c != nil {
			s.serveOnWorker(sv, c)
		}
	}
}

// admit takes one accepted connection through the service's limits and
// returns the Conn to serve (counted in s.handles), or nil when it was
// refused and closed.
func (s *Server) admit(sv *svcState, nc net.Conn, tlsCfg *tls.Config) *Conn {
	sv.m.accepted.WithLabelValues(sv.name).Inc()
	if max := sv.Limits.MaxConns; max > 0 && sv.active.Load() >= int64(max) {
		s.reject(sv, nc, "limit", "connection limit reached, closing new connection", "max_conns", max)
		return nil
	}
	ip := remoteIP(nc)
	if !sv.takeIP(ip) {
		s.reject(sv, nc, "per_ip_limit", "per-address connection limit reached, closing new connection",
			"max_conns_per_ip", sv.Limits.MaxConnsPerIP)
		return nil
	}
	sv.active.Add(1)
	sv.m.active.WithLabelValues(sv.name).Inc()
	id := connSeq.Add(1)
	c := &Conn{
		ip:         ip,
		Conn:       nc,
		id:         id,
		svc:        sv,
		limits:     sv.Limits,
		idleGrain:  coarseGrain(sv.Limits.IdleTimeout),
		writeGrain: coarseGrain(sv.Limits.WriteTimeout),
		started:    time.Now(),
		log:        s.log.With("service", sv.name, "conn", id, "remote", nc.RemoteAddr().String()),
	}
	if tlsCfg != nil {
		c.tls = tls.Server(nc, tlsCfg)
		c.Conn = c.tls
		c.log = c.log.With("tls", true)
	}
	sv.mu.Lock()
	sv.conns[c] = struct{}{}
	draining := s.ctx.Err() != nil
	sv.mu.Unlock()
	if draining {
		c.beginDrain()
	}
	s.handles.Add(1)
	return c
}

// reject closes a connection the service will not serve, at once and with
// a reset, and counts it.
func (s *Server) reject(sv *svcState, nc net.Conn, reason, msg string, args ...any) {
	sv.m.rejected.WithLabelValues(sv.name, reason).Inc()
	s.log.Warn(msg, append([]any{"service", sv.name, "remote", nc.RemoteAddr().String()}, args...)...)
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	nc.Close()
}

func remoteIP(nc net.Conn) string {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return nc.RemoteAddr().String()
}

// takeIP counts one more connection from ip, or reports false when ip is
// at MaxConnsPerIP.
func (sv *svcState) takeIP(ip string) bool {
	max := sv.Limits.MaxConnsPerIP
	if max <= 0 {
		return true
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.perIP[ip] >= max {
		return false
	}
	sv.perIP[ip]++
	return true
}

func (sv *svcState) releaseIP(ip string) {
	if sv.Limits.MaxConnsPerIP <= 0 {
		return
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.perIP[ip]--; sv.perIP[ip] <= 0 {
		delete(sv.perIP, ip)
	}
}

func (s *Server) serve(sv *svcState, c *Conn, ended chan<- struct{}) {
	defer s.handles.Done()
	if ended != nil {
		defer close(ended)
	}
	defer func() {
		if r := recover(); r != nil {
			sv.m.panics.WithLabelValues(sv.name).Inc()
			c.log.Error("handler panic; connection closed", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		c.Conn.Close()
		sv.mu.Lock()
		delete(sv.conns, c)
		sv.closedIn += c.in.Load()
		sv.closedOut += c.out.Load()
		sv.mu.Unlock()
		sv.releaseIP(c.ip)
		sv.active.Add(-1)
		sv.m.active.WithLabelValues(sv.name).Dec()
		c.log.Debug("connection closed", "bytes_in", c.in.Load(), "bytes_out", c.out.Load())
	}()
	c.log.Debug("connection accepted")
	var err error
	if c.tls != nil {
		err = s.tlsHandshake(c)
	}
	if err == nil {
		ctx := context.WithValue(s.ctx, ctxKey{}, c)
		err = sv.Handler.ServeConn(ctx, c)
	}
	if cut := c.CutBy(); cut != "" {
		sv.m.closed.WithLabelValues(sv.name, cut).Inc()
		c.log.Info("session closed: deadline reached", "deadline", cut, "bytes_in", c.in.Load(), "bytes_out", c.out.Load())
	}
	if err != nil {
		c.log.Debug("session ended", "err", err)
	}
}

// tlsHandshake runs a TLS connection's handshake, bounded by the
// service's handshake timeout (the idle timeout when that is 0) and by
// shutdown. A failure is counted as a handshake failure, a timeout also as
// a session closed by handshake_timeout.
func (s *Server) tlsHandshake(c *Conn) error {
	d := c.limits.HandshakeTimeout
	if d <= 0 {
		d = c.limits.IdleTimeout
	}
	var dl time.Time
	if d > 0 {
		dl = time.Now().Add(d)
	}
	raw := c.tls.NetConn()
	if err := raw.SetDeadline(dl); err != nil {
		return err
	}
	err := c.tls.HandshakeContext(s.ctx)
	if err != nil {
		c.noteTimeout(err, deadlineHandshake)
		c.HandshakeFailed("tls: " + err.Error())
		return fmt.Errorf("tls handshake: %w", err)
	}
	c.tlsDone.Store(true)
	return raw.SetDeadline(time.Time{})
}

// Shutdown stops accepting, cancels the handlers' context, lets sessions
// finish until ctx is done, then closes whatever is still open. It returns
// ctx.Err() when connections had to be cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	for _, sv := range s.svcs {
		sv.up.Store(false)
		if sv.ln != nil {
			sv.ln.Close()
		}
		if sv.tlsLn != nil {
			sv.tlsLn.Close()
		}
	}
	s.loops.Wait()
	for _, sv := range s.svcs {
		sv.mu.Lock()
		for c := range sv.conns {
			c.beginDrain()
		}
		sv.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		s.handles.Wait()
		for _, sv := range s.svcs {
			s.m.bytesIn.retire(sv)
			s.m.bytesOut.retire(sv)
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	for _, sv := range s.svcs {
		sv.mu.Lock()
		n := len(sv.conns)
		for c := range sv.conns {
			c.closeNow()
		}
		sv.mu.Unlock()
		if n > 0 {
			s.log.Warn("drain timeout: connections closed", "service", sv.name, "count", n)
		}
	}
	<-done
	return ctx.Err()
}
