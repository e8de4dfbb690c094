package clock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

func start(t *testing.T, o Config, l netsvc.Limits) (*netsvc.Server, string) {
	t.Helper()
	return netsvctest.Start(t, "clock", newServer(t, o, Env{}), l)
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange writes msg in one Write and returns what one Read brings back.
func exchange(t *testing.T, c net.Conn, msg []byte) []byte {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write % x: %v", msg, err)
	}
	return readOne(t, c)
}

func readOne(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, MaxMessage)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

// waitUnknown waits until the server has counted n UNKNOWN requests: it
// read and dropped each, without an answer, so the next write is a read of
// its own and anything the server had sent would precede the next answer.
func waitUnknown(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	netsvctest.Eventually(t, fmt.Sprintf("%d UNKNOWN requests counted", n), 5*time.Second, func() bool {
		return counter(t, reg, "gatehouse_requests_total", map[string]string{"command": "UNKNOWN"}) == float64(n)
	})
}

// expectSilence checks that nothing arrives for d: for asserting that the
// server sends nothing where no request of the session could tell (before
// the key, after the last answer), bounded by d.
func expectSilence(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, MaxMessage)
	n, err := c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("expected silence, got % x, %v", buf[:n], err)
	}
}

// expectClosed checks the server closed the connection without sending.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, MaxMessage)
	n, err := c.Read(buf)
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("expected close, got % x, %v", buf[:n], err)
	}
}

// waitActive polls until the service serves want connections.
func waitActive(t *testing.T, srv *netsvc.Server, want int64) {
	t.Helper()
	netsvctest.Eventually(t, fmt.Sprintf("active connections = %d", want), 5*time.Second,
		func() bool { return srv.Active("clock") == want })
}

// Worked example A (docs/clock.md, "Worked examples"), replayed byte for byte: client key 137,
// server exponent 19 (key 35), K=189.
func TestWorkedExampleA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
	_, addr := start(t, withFixedTemp(testConfig(newExponents(19), now), -44),
		netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	steps := []struct{ send, want string }{
		{"31 33 37", "33 35"},
		{"11 06 0a 02", "ee ee f7 f2 ee f7 ed f3 eb ed f6 ed f5 f5 ed"},
		{"01 fe 11 02", "ef ed ef f3 ea ee ee ea ef ef"},
		{"11 02 0a 0d", "ea f1 f1 7f 6d 00"},
	}
	for _, s := range steps {
		if got := exchange(t, c, unhex(t, s.send)); !bytes.Equal(got, unhex(t, s.want)) {
			t.Fatalf("sent %s, got % x, want %s", s.send, got, s.want)
		}
	}
}

// Worked example B (docs/clock.md, "Worked examples"): a=5, b=7, K=211. The exponent source first
// offers 0 and 32, which give shift 1 and 0 for key 169 and must be
// re-drawn without the client noticing.
func TestWorkedExampleBWithWeakExponentsRedrawn(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 10, 23, 0, 2, 19, 198109_000, time.Local)
	_, addr := start(t, withFixedTemp(testConfig(newExponents(0, 32, 7), now), 6),
		netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	steps := []struct{ send, want string }{
		{"31 36 39", "31 34 36"},
		{"27 1c 20 18", "03 03 0d 03 05 0d 04 0c 01 04 0c 0b 04 03 0c"},
		{"17 14 27 18", "05 03 05 07 00 04 03 00 05 06"},
		{"27 18 20 23", "09 95 83 16"},
	}
	for _, s := range steps {
		if got := exchange(t, c, unhex(t, s.send)); !bytes.Equal(got, unhex(t, s.want)) {
			t.Fatalf("sent %s, got % x, want %s", s.send, got, s.want)
		}
	}
}

func TestMicrosecondZeroTimeIs8Bytes(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 10, 23, 0, 2, 19, 0, time.Local)
	_, addr := start(t, testConfig(newExponents(7), now), netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	if got := exchange(t, c, []byte("169")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	if got := exchange(t, c, unhex(t, "27 1c 20 18")); !bytes.Equal(got, unhex(t, "03 03 0d 03 05 0d 04 0c")) {
		t.Fatalf("TIME at microsecond 0 = % x", got)
	}
}

var timeRE = regexp.MustCompile(`^\d\d:\d\d:\d\d(\.\d{6})?$`)

// A full session per command with the Go client and the real clock.
func TestFullSessionEachCommand(t *testing.T) {
	t.Parallel()
	_, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	ctx := context.Background()
	for _, cmd := range []Command{CmdTime, CmdDate, CmdTemp} {
		t.Run(cmd.String(), func(t *testing.T) {
			s, err := Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if IsWeakShift(s.Key()) {
				t.Fatalf("session runs with weak key %d", s.Key())
			}
			before := time.Now()
			got, err := s.Do(cmd)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			switch cmd {
			case CmdTime:
				if !timeRE.MatchString(got) {
					t.Fatalf("TIME = %q", got)
				}
				lo, hi := FormatTime(before.Truncate(time.Second)), FormatTime(after)
				if got < lo[:8] || got > hi {
					// Midnight wrap aside, the answer lies between the two.
					if before.Day() == after.Day() {
						t.Fatalf("TIME %q not within [%s, %s]", got, lo, hi)
					}
				}
			case CmdDate:
				if got != FormatDate(before) && got != FormatDate(after) {
					t.Fatalf("DATE = %q, today is %s", got, FormatDate(after))
				}
			case CmdTemp:
				v, ok := bytes.CutSuffix([]byte(got), []byte("°C"))
				n, err := strconv.Atoi(string(v))
				if !ok || err != nil || n < -50 || n > 50 {
					t.Fatalf("TEMP = %q", got)
				}
			}
		})
	}
}

// Many requests on one session; random TEMP covers the range ends.
func TestManyRequestsOneSession(t *testing.T) {
	t.Parallel()
	_, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen := map[string]bool{}
	for i := range 300 {
		r, err := s.Do([]Command{CmdTime, CmdDate, CmdTemp}[i%3])
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i%3 == 2 {
			seen[r] = true
		}
	}
	if len(seen) < 20 {
		t.Fatalf("only %d distinct random temperatures in 100 draws", len(seen))
	}
}

// The original accepts case and whitespace variants (strip + upper).
func TestLenientCommands(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
	_, addr := start(t, withFixedTemp(testConfig(newExponents(7), now), 6),
		netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	if got := exchange(t, c, []byte(" 169\n")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	for in, want := range map[string]string{"time": "11:51:06.090880", " date\n": "2026-11-22", "Temp\r\n": "6°C",
		"tıme": "11:51:06.090880"} {
		got := Decrypt(nil, exchange(t, c, Encrypt(nil, []byte(in), 211)), 211)
		if string(got) != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// Unknown, split and merged requests get no reply and leave the session
// usable, exactly as the original (docs/clock.md, "Compatibility rules").
func TestSilenceOnUnknownSplitAndMerged(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
	_, addr, reg := startWithMetrics(t, testConfig(newExponents(7), now), netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	if got := exchange(t, c, []byte("169")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	e := func(s string) []byte { return Encrypt(nil, []byte(s), 211) }
	for i, frag := range []string{"HELO", "TIMETIME", "TI", "ME", "TIME TIME"} {
		if _, err := c.Write(e(frag)); err != nil {
			t.Fatal(err)
		}
		// Each fragment is its own read (the server counted it before the
		// next is sent), and any answer to it would be read by the DATE
		// exchange below instead of DATE's.
		waitUnknown(t, reg, i+1)
	}
	if got := exchange(t, c, e("DATE")); string(Decrypt(nil, got, 211)) != "2026-11-22" {
		t.Fatalf("DATE after silence = %q", Decrypt(nil, got, 211))
	}
}

// A client key split across reads: the first read is the whole key, as in
// the original. "16" then "9" makes the server use key 16 (K=241 with
// exponent 7), and the stray "9" is an unknown request; "1" then "69" uses
// key 1, which is weak: served by default, closed with the opt-in.
func TestSplitClientKey(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
	_, addr, reg := startWithMetrics(t, testConfig(newExponents(7), now), netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	c.Write([]byte("16"))
	if got := readOne(t, c); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	k := SharedKey(146, 48) // 11^48 = 16
	if k != SharedKey(16, 7) || k != 241 {
		t.Fatalf("K = %d", k)
	}
	c.Write([]byte("9"))
	waitUnknown(t, reg, 1) // no answer: the TIME exchange below would read it
	if got := Decrypt(nil, exchange(t, c, Encrypt(nil, []byte("TIME"), k)), k); string(got) != "11:51:06.090880" {
		t.Fatalf("TIME = %q", got)
	}

	// Key 1 is weak: served by default, as the original did (K = 1, and
	// "69" is one more unknown request).
	c2 := dialRaw(t, addr)
	c2.Write([]byte("1"))
	if got := readOne(t, c2); string(got) != "146" {
		t.Fatalf("server key for key 1: %q", got)
	}
	c2.Write([]byte("69"))
	waitUnknown(t, reg, 2)
	if got := Decrypt(nil, exchange(t, c2, Encrypt(nil, []byte("TIME"), 1)), 1); string(got) != "11:51:06.090880" {
		t.Fatalf("TIME with key 1 = %q", got)
	}

	// With the opt-in it closes before the rest of the key could be sent.
	_, addr3 := start(t, refusing(testConfig(newExponents(7), time.Time{})), netsvctest.DefaultLimits)
	c3 := dialRaw(t, addr3)
	c3.Write([]byte("1"))
	expectClosed(t, c3)
}

// With refuse_weak_client_keys, keys 0, 1 and 256 (mod 257), which force
// shift 0 or 1, get the connection closed before any reply; any other key
// never gets a weak shift (in either mode, the exponent is re-drawn).
func TestWeakClientKeysRefusedOnOptIn(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, refusing(DefaultConfig()), netsvctest.DefaultLimits)
	for _, key := range []string{"0", "1", "256", "257", "-1", "513", "0000", "-256"} {
		c := dialRaw(t, addr)
		c.Write([]byte(key))
		expectClosed(t, c)
	}
	waitActive(t, srv, 0)
	for _, refuse := range []bool{true, false} {
		o := DefaultConfig()
		o.RefuseWeakClientKeys = refuse
		_, addr := start(t, o, netsvctest.DefaultLimits)
		// Any other key in the subgroup gets a non-weak session.
		for _, key := range []int{2, 16, 128, 255, 169} {
			c := dialRaw(t, addr)
			b, err := ParseKey(exchange(t, c, FormatKey(key)))
			if err != nil {
				t.Fatal(err)
			}
			// The client does not know our exponent; find K from B by the
			// 64-entry table (B is in the subgroup).
			e := -1
			for x := range 64 {
				if PublicKey(x) == b {
					e = x
				}
			}
			if e < 0 {
				t.Fatalf("server key %d not in the subgroup", b)
			}
			if k := SharedKey(key, e); IsWeakShift(k) {
				t.Fatalf("refuse_weak_client_keys=%v: client key %d: weak K %d", refuse, key, k)
			}
		}
	}

	// Outside the subgroup the exponent mod 64 does not fix K, so the
	// table above cannot tell it (it once flagged key 3 wrongly); use known
	// exponents instead. 3 generates the whole group: 3^128 = 256 (shift 0)
	// must be re-drawn, 3^5 = 243 is fine, and B = 11^5 = 169.
	_, addr3 := start(t, testConfig(newExponents(128, 5), time.Time{}), netsvctest.DefaultLimits)
	c := dialRaw(t, addr3)
	if got := exchange(t, c, []byte("3")); string(got) != "169" {
		t.Fatalf("client key 3: server key %q, want 169 (exponent 128 gives shift 0)", got)
	}
	if SharedKey(3, 128) != 256 || SharedKey(3, 5) != 243 {
		t.Fatal("3^128 or 3^5 mod 257 wrong")
	}
}

// Garbage keys and invalid UTF-8 close that connection only.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	ctx := context.Background()
	good, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	for _, key := range []string{"abc", "\xff\xfe", "1_", "16.5", "GET / HTTP/1.0\r\n\r\n"} {
		c := dialRaw(t, addr)
		c.Write([]byte(key))
		expectClosed(t, c)
		if _, err := good.Time(); err != nil {
			t.Fatalf("after garbage key %q: %v", key, err)
		}
	}
	// Invalid UTF-8 after decryption.
	c := dialRaw(t, addr)
	b, _ := ParseKey(exchange(t, c, []byte("169")))
	e := 0
	for x := range 64 {
		if PublicKey(x) == b {
			e = x
		}
	}
	k := SharedKey(169, e)
	c.Write(Encrypt(nil, []byte{0xff, 'T', 'I', 'M', 'E'}, k))
	expectClosed(t, c)
	if _, err := good.Date(); err != nil {
		t.Fatal(err)
	}
	waitActive(t, srv, 1)
	fresh, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := fresh.Temp(); err != nil {
		t.Fatal(err)
	}
}

// 40 idle connections (20 silent, 20 after the key exchange) do not stop a
// 41st client: the original, with 32 pool threads, never served it. The
// limit in force is the core's MaxConns; the 42nd connection is over it and
// is closed at once, and closing an idle one makes room again.
func TestFortyIdleThenFortyFirst(t *testing.T) {
	t.Parallel()
	l := netsvctest.DefaultLimits
	l.MaxConns = 41
	l.HandshakeTimeout = 20 * time.Second
	srv, addr := start(t, DefaultConfig(), l)
	var idle []net.Conn
	for i := range 40 {
		c := dialRaw(t, addr)
		if i%2 == 1 {
			if _, err := ParseKey(exchange(t, c, []byte("169"))); err != nil {
				t.Fatal(err)
			}
		}
		idle = append(idle, c)
	}
	waitActive(t, srv, 40)
	ctx := context.Background()
	start := time.Now()
	s, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Time(); err != nil || !timeRE.MatchString(got) {
		t.Fatalf("41st client: %q, %v", got, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("41st client took %v", d)
	}
	waitActive(t, srv, 41)

	// netsvc resets a connection over the limit right after accept, so the
	// reset may already be seen by connect itself.
	if over, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		over.Write([]byte("169"))
		expectClosed(t, over)
		over.Close()
	}
	waitActive(t, srv, 41)

	idle[0].Close()
	waitActive(t, srv, 40)
	s2, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Date(); err != nil {
		t.Fatal(err)
	}
	// The earlier session is still fine.
	if _, err := s.Temp(); err != nil {
		t.Fatal(err)
	}
}

// 100 bare connect-and-close probes (32 killed the original for good) leave
// no trace: every slot is freed and the next client is served.
func TestHundredProbesThenClient(t *testing.T) {
	t.Parallel()
	l := netsvctest.DefaultLimits
	l.MaxConns = 32
	srv, addr := start(t, DefaultConfig(), l)
	for range 100 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // over the limit for a moment on a loaded machine: reset at once, as designed
		}
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitActive(t, srv, 0)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Time(); err != nil {
		t.Fatal(err)
	}
}

// Concurrent sessions share nothing; run under -race.
func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	_, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			s, err := Dial(context.Background(), addr)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			for range 50 {
				if r, err := s.Time(); err != nil || !timeRE.MatchString(r) {
					errs <- errors.Join(err, errors.New("bad TIME "+r))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A silent connection is dropped at the handshake deadline, an idle session
// at the idle deadline: neither holds a slot forever.
func TestDeadlines(t *testing.T) {
	t.Parallel()
	l := netsvctest.DefaultLimits
	l.HandshakeTimeout = 300 * time.Millisecond
	l.IdleTimeout = 1500 * time.Millisecond
	srv, addr := start(t, DefaultConfig(), l)
	silent := dialRaw(t, addr)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitActive(t, srv, 2)
	t0 := time.Now()
	expectClosed(t, silent)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("silent connection closed after %v", d)
	}
	// The session survives the handshake deadline because it is past it.
	if _, err := s.Time(); err != nil {
		t.Fatal(err)
	}
	waitActive(t, srv, 0)
	if _, err := s.Time(); err == nil {
		t.Fatal("idle session still answered after the idle deadline")
	}
}

// Shutdown closes an idle session at once instead of hanging the way the
// original did with a client connected.
func TestShutdownWithIdleSession(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Time(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	t0 := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	if _, err := s.Time(); err == nil {
		t.Fatal("session answered after shutdown")
	}
}

func TestTempSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	zone := filepath.Join(dir, "temp")
	if err := os.WriteFile(zone, []byte("45678\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if cfg.TempSource != "random" {
		t.Fatalf("default temp_source %q", cfg.TempSource)
	}
	cfg.TempSource, cfg.TempFile = "file", zone
	_, addr := start(t, cfg, netsvctest.DefaultLimits)
	s, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Temp(); err != nil || got != "46°C" {
		t.Fatalf("file TEMP = %q, %v", got, err)
	}
	os.WriteFile(zone, []byte("-12.4"), 0o600)
	cfg.TempFileScale = 1
	o2, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := o2.temp.Celsius(); err != nil || v != -12 {
		t.Fatalf("scale 1: %d, %v", v, err)
	}
	// A sensor that disappears closes the session rather than inventing a value.
	os.Remove(zone)
	if got, err := s.Temp(); err == nil {
		t.Fatalf("TEMP without sensor = %q", got)
	}

	cfg.TempSource, cfg.TempFixed = "fixed", 21
	o3, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := o3.temp.Celsius(); v != 21 {
		t.Fatalf("fixed = %d", v)
	}

	for name, mut := range map[string]func(*Config){
		"missing file": func(c *Config) { c.TempSource, c.TempFile = "file", filepath.Join(dir, "nope") },
		"empty path":   func(c *Config) { c.TempSource, c.TempFile = "file", "" },
		"zero scale":   func(c *Config) { c.TempSource, c.TempFile, c.TempFileScale = "file", zone, 0 },
		"bad source":   func(c *Config) { c.TempSource = "sensor" },
		// The Go client refuses a TEMP reply this long; a typo must not
		// start a server whose every TEMP fails.
		"fixed too hot":  func(c *Config) { c.TempSource, c.TempFixed = "fixed", 1_000_000_000_000 },
		"fixed too cold": func(c *Config) { c.TempSource, c.TempFixed = "fixed", -274 },
	} {
		c := DefaultConfig()
		mut(&c)
		if _, err := New(c, Env{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A FIFO or a device would block the read (and the daemon's start-up
	// or shutdown) forever; it is refused at once.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, dir} {
		errc := make(chan error, 1)
		go func() { _, err := (FileTemp{Path: p, Scale: 1}).Celsius(); errc <- err }()
		select {
		case err := <-errc:
			if err == nil {
				t.Errorf("%s read as a temperature", p)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("reading %s blocked", p)
		}
	}
	for _, body := range []string{"", "hot", "1e9", "NaN", string(bytes.Repeat([]byte("1"), 100))} {
		os.WriteFile(zone, []byte(body), 0o600)
		if v, err := (FileTemp{Path: zone, Scale: 1}).Celsius(); err == nil {
			t.Errorf("file %q read as %d", body, v)
		}
	}
}

// The server never writes more than it was asked for: a client that sends
// a key and then reads must see exactly one key and nothing else.
func TestNothingBeforeKey(t *testing.T) {
	t.Parallel()
	_, addr := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	expectSilence(t, c, 200*time.Millisecond)
	got := exchange(t, c, []byte("169"))
	if _, err := ParseKey(got); err != nil || len(got) > 3 {
		t.Fatalf("server key %q", got)
	}
	expectSilence(t, c, 100*time.Millisecond)
}
