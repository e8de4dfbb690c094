package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gatehouse/internal/service/clock"
)

// The idle-session scale test (docs/performance.md, "Idle scale").
const (
	// DefaultIdleProbes is how many new clients are timed, one after the
	// other, while the idle sessions stay open.
	DefaultIdleProbes = 100
	// NewClientTargetMs is the goal for a new client (connect, key
	// exchange, one TIME) while the idle sessions are open, at p99.
	NewClientTargetMs = 5
	// idleOpenWindow bounds how long opening the idle sessions may take.
	idleOpenWindow = 90 * time.Second
	// idleDialers open the sessions concurrently.
	idleDialers = 32
	// idleSlackFDs are descriptors beyond one per session: the daemon's
	// listeners, store and log files, the harness's own files.
	idleSlackFDs = 512
	// maxIdleSources bounds the source addresses: 127.0.0.2 … 127.0.0.254.
	maxIdleSources = 253
	// defaultEphemeralPorts is Linux's default ip_local_port_range
	// (32768–60999), used when /proc cannot be read.
	defaultEphemeralPorts = 28232
)

// ephemeralPorts is the size of net.ipv4.ip_local_port_range: how many
// connections one source address can open to one server address.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralPorts
	}
	return parsePortRange(string(b))
}

func parsePortRange(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 {
		return defaultEphemeralPorts
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi < lo || hi > 65535 {
		return defaultEphemeralPorts
	}
	return hi - lo + 1
}

// IdleSourceCount is how many loopback source addresses n idle
// connections need when each address has ports ephemeral ports: each
// address takes at most three quarters of them, leaving the rest to the
// other connections of the machine (and to ports still in TIME_WAIT).
func IdleSourceCount(n, ports int) int {
	per := max(ports*3/4, 1)
	return max((n+per-1)/per, 1)
}

// SourceAddrs returns k loopback source addresses, 127.0.0.2, 127.0.0.3,
// … (on Linux the whole of 127.0.0.0/8 is local, so they need no set-up).
// 127.0.0.1 is left to the probes and the rest of the run.
func SourceAddrs(k int) ([]netip.Addr, error) {
	if k < 1 || k > maxIdleSources {
		return nil, fmt.Errorf("bench: %d source addresses; want 1 to %d", k, maxIdleSources)
	}
	out := make([]netip.Addr, k)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)})
	}
	return out, nil
}

// SpreadDialer dials connection i from source address i mod len(Sources),
// so no one address runs out of ephemeral ports.
type SpreadDialer struct {
	Sources []netip.Addr
	Timeout time.Duration
}

// Source is connection i's source address.
func (s *SpreadDialer) Source(i int) netip.Addr { return s.Sources[i%len(s.Sources)] }

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// noPortAtBind asks Linux to pick the source port at connect, not at bind:
// a bind to port 0 searches the ephemeral range for a port no socket of
// that address holds, which slows to a crawl with tens of thousands held;
// connect only needs the 4-tuple to be unique. Elsewhere it is a no-op.
func noPortAtBind(_, _ string, rc syscall.RawConn) error {
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	return nil
}

// Dial connects connection i to addr from its source address. The
// connection is set to close with a reset (SO_LINGER 0), so a run leaves
// no TIME_WAIT entries on the source ports behind for the next run.
func (s *SpreadDialer) Dial(ctx context.Context, i int, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: s.Timeout, Control: noPortAtBind,
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.Source(i), 0))}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c, nil
}

// dialClock opens clock session i through sd: the connection from its
// source address, then the key exchange, on a fresh connection again when
// the shared key is weak (as clock.Dialer does).
func (s *SpreadDialer) dialClock(ctx context.Context, i int, addr string) (*clock.Session, error) {
	dl := clock.Dialer{Timeout: s.Timeout}
	var err error
	for range 8 {
		var c net.Conn
		if c, err = s.Dial(ctx, i, addr); err != nil {
			return nil, fmt.Errorf("clock: dial %s from %s: %w", addr, s.Source(i), err)
		}
		var sess *clock.Session
		if sess, err = dl.Handshake(ctx, c); err == nil {
			return sess, nil
		}
		c.Close()
		if !errors.Is(err, clock.ErrWeakKey) {
			return nil, err
		}
	}
	return nil, err
}

// idleFDs is how many descriptors each process needs for n idle sessions:
// the harness holds the client ends, the daemon child the server ends;
// with the daemon in this process, both.
func idleFDs(n int, inProcess bool) uint64 {
	if inProcess {
		return uint64(2*n) + idleSlackFDs
	}
	return uint64(n) + idleSlackFDs
}

// idleDaemonSets configure the clock daemon for n idle sessions plus the
// probes: max_conns (default 16384) raised above them, and an idle
// timeout that outlasts the test but still ends a forgotten session.
func idleDaemonSets(n, probes int) []string {
	return []string{
		fmt.Sprintf("services.clock.max_conns=%d", n+probes+64),
		"services.clock.max_conns_per_ip=0",
		"services.clock.idle_timeout=10m",
	}
}

// benchIdle opens Opts.IdleConns clock sessions (key exchange done, then
// silent) spread over loopback source addresses, reports the daemon's RSS
// per session, and times Opts.IdleProbes new clients, one after the
// other, while all of them stay open.
func benchIdle(ctx context.Context, e *Env) ([]Figure, error) {
	want := e.Opts.IdleConns
	probes := e.Opts.IdleProbes
	if probes <= 0 {
		probes = DefaultIdleProbes
	}
	// The daemon child inherits the raised limits.
	nf := RaiseNoFile(idleFDs(want, e.Opts.InProcess))
	open := want
	if short := nf.Short(); short > 0 {
		// Past the limit every accept and dial fails with EMFILE, and the
		// probes would measure that; open what fits and say so.
		open = max(want-int(short), 0)
		e.Logf("idle: %s; opening %d sessions instead of %d", nf, open, want)
	}
	nsrc := e.Opts.IdleSources
	if nsrc <= 0 {
		nsrc = IdleSourceCount(open, ephemeralPorts())
	}
	srcs, err := SourceAddrs(nsrc)
	if err != nil {
		return nil, err
	}
	sd := &SpreadDialer{Sources: srcs, Timeout: clockTimeout}

	d, err := e.StartDaemon(ctx, "clock", idleDaemonSets(open, probes)...)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	// Warm the daemon with one session so the baseline RSS already holds
	// the code paths and buffers every session shares.
	if s, err := clock.Dial(ctx, d.Addr); err == nil {
		s.Time()
		s.Close()
	}
	time.Sleep(200 * time.Millisecond)
	before, err := d.Sample()
	if err != nil {
		return nil, err
	}
	e.Logf("idle: opening %d clock sessions from %d source address(es) (%s … %s); %s",
		open, len(srcs), srcs[0], srcs[len(srcs)-1], nf)

	var (
		mu       sync.Mutex
		sessions = make([]*clock.Session, 0, open)
		failed   atomic.Int64
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	octx, cancel := context.WithTimeout(ctx, idleOpenWindow)
	t0 := time.Now()
	for range idleDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for octx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= open {
					return
				}
				s, err := sd.dialClock(octx, i, d.Addr)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					// A run of failures means a limit was hit: stop early.
					if failed.Load() > 100 {
						return
					}
					continue
				}
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cancel()
	openTime := time.Since(t0)
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	reached := len(sessions)
	time.Sleep(time.Second) // let the daemon's goroutines settle
	after, err := d.Sample()
	if err != nil {
		return nil, err
	}
	f := Figure{Section: SectionScale, Name: "clock idle sessions", Service: "clock", Kind: "idle",
		Clients: reached, Ops: int64(reached), Errors: failed.Load(), Seconds: openTime.Seconds(),
		PeakRSSMiB: float64(after.PeakKiB) / 1024}
	det := &IdleDetail{Asked: want, Opened: open, SourceAddrs: len(srcs),
		NoFileSoft: nf.Soft, NoFileHard: nf.Hard, NoFileWant: nf.Want, NoFileShort: nf.Short()}
	f.Idle = det
	if reached > 0 {
		f.RSSPerConnKiB = float64(after.RSSKiB-before.RSSKiB) / float64(reached)
	}
	f.Note = fmt.Sprintf("asked %d, reached %d in %.1fs from %d source address(es); daemon RSS %.1f → %.1f MiB, %d threads; %s",
		want, reached, openTime.Seconds(), len(srcs), float64(before.RSSKiB)/1024, float64(after.RSSKiB)/1024, after.Threads, nf)
	if firstErr != nil {
		f.Note += "; first open error: " + firstErr.Error()
	}

	// New clients, one after the other, while all the others stay open:
	// connect, key exchange, one TIME, close (from 127.0.0.1, the
	// address a fresh client of this machine would use).
	p := probeNewClients(ctx, d.Addr, probes)
	p.Name = fmt.Sprintf("clock new client, %d idle open", reached)
	p.Idle = det
	det.NewClientP50ms, det.NewClientP99ms, det.NewClientsServed = p.P50ms, p.P99ms, int(p.Ops)
	if p.Ops > 0 {
		f.Note += fmt.Sprintf("; a new client was served in %.2f ms (p50; p99 %.2f ms, %d of %d served)",
			p.P50ms, p.P99ms, p.Ops, probes)
	}
	if p.Errors > 0 {
		f.Errors += p.Errors
		f.Note += fmt.Sprintf("; %d new client(s) NOT served", p.Errors)
	}
	e.Logf("idle: %s", f.Note)
	return []Figure{f, p}, nil
}

// probeNewClients times n new clock clients on addr, one at a time, and
// returns them as a figure: p50/p99 of connect + key exchange + TIME.
func probeNewClients(ctx context.Context, addr string, n int) Figure {
	lat := make([]time.Duration, 0, n)
	var errs int64
	var firstErr error
	t0 := time.Now()
	for range n {
		if ctx.Err() != nil {
			break
		}
		t1 := time.Now()
		err := func() error {
			s, err := (&clock.Dialer{Timeout: clockTimeout}).Dial(ctx, addr)
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Time()
			return err
		}()
		if err != nil {
			errs++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		lat = append(lat, time.Since(t1))
	}
	p50, p99 := percentiles(lat)
	f := Figure{Section: SectionScale, Service: "clock", Kind: "newclient", Clients: 1,
		Ops: int64(len(lat)), Errors: errs, Seconds: time.Since(t0).Seconds(), P50ms: ms(p50), P99ms: ms(p99),
		Note: fmt.Sprintf("%d new clients one after the other: connect + key exchange + TIME + close", n)}
	if firstErr != nil {
		f.Note = joinNote(f.Note, "first error: "+firstErr.Error())
	}
	return f
}
