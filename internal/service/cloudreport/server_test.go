package cloudreport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
	"gatehouse/internal/syncbuf"

	"github.com/prometheus/client_golang/prometheus"
)

type env struct {
	addr string
	db   *store.DB
	srv  *Server
	logs *syncbuf.Buffer
	dir  string
	prom *prometheus.Registry // the server's and netsvc's series
}

var testNow = time.Date(2026, 11, 22, 12, 33, 32, 0, time.UTC)

// movingClock is a clock at testNow that advance moves on.
func movingClock() (clock func() time.Time, advance func(time.Duration)) {
	var mu sync.Mutex
	now := testNow
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// conf is DefaultConfig changed by f.
func conf(f func(c *Config)) Config {
	c := DefaultConfig()
	f(&c)
	return c
}

// dirUpdatesT is DirUpdates(dir) or the end of the test.
func dirUpdatesT(t testing.TB, dir string) UpdateSource {
	t.Helper()
	u, err := DirUpdates(dir)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// start serves a Server over the real netsvc runtime on 127.0.0.1, logging
// at debug level into env.logs, dates in UTC, updates from env.dir/updates.
// A nil cfg.Now gets testNow.
func start(t *testing.T, cfg Config, lim netsvc.Limits) *env {
	t.Helper()
	return startReg(t, storetest.SQLite(t), nil, cfg, lim)
}

// startReg is start on db, with reg (a wrapper of db) as the server's
// registry when it is not nil.
func startReg(t *testing.T, db *store.DB, reg Registry, cfg Config, lim netsvc.Limits) *env {
	t.Helper()
	e := &env{db: db, logs: &syncbuf.Buffer{}, dir: t.TempDir(), prom: prometheus.NewRegistry()}
	if reg == nil {
		reg = db
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nm := netsvc.NewMetrics(e.prom) // first, as the daemon does
	srv, err := New(cfg, Env{Registry: reg, Log: log, Location: time.UTC, Metrics: e.prom,
		Updates: dirUpdatesT(t, filepath.Join(e.dir, "updates"))})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { srv.Close() })
	ns := netsvc.New(log, nm)
	if err := ns.Listen(netsvc.Service{Name: "cloudreport", Addr: "127.0.0.1:0", Handler: srv, Limits: lim}); err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ns.Shutdown(ctx)
	})
	e.addr = ns.Addr("cloudreport").String()
	return e
}

func (e *env) register(t *testing.T, id string, enabled bool) store.CloudreportClient {
	t.Helper()
	c := store.CloudreportClient{ID: id, Name: "Firm " + id, Enabled: enabled,
		Expires: time.Date(2027, 11, 22, 0, 0, 0, 0, time.UTC),
		Created: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)}
	if err := e.db.CloudreportAddClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c
}

type raw struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("send %.40q: %v", s, err)
	}
}

// expect reads exactly len(want) bytes and compares them.
func (r *raw) expect(want string) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.br, got); err != nil {
		r.t.Fatalf("want %q: read %q: %v", want, got, err)
	}
	if string(got) != want {
		r.t.Fatalf("got %q, want %q", got, want)
	}
}

func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read line: %q %v", l, err)
	}
	if !strings.HasSuffix(l, "\r\n") {
		r.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// data reads a seed data reply and returns the DATA text.
func (r *raw) data() string {
	r.t.Helper()
	r.expect("200 OK\r\n")
	l := r.line()
	d, ok := strings.CutPrefix(l, "DATA=")
	if !ok {
		r.t.Fatalf("want DATA line, got %q", l)
	}
	return d
}

func (r *raw) expectClosed() {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := r.br.ReadByte()
	if err == nil {
		r.t.Fatalf("connection still open; read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("connection not closed within 5 s")
	}
}

func decrypt(t *testing.T, key, data string) Fields {
	t.Helper()
	p, err := NewSeedCodec(key, 0).Decrypt(data)
	if err != nil {
		t.Fatalf("decrypt with %s: %v", key, err)
	}
	return ParseFields(p)
}

func formatted(f Fields) string { return string(f.Format()) }

// The worked example of docs/cloudreport.md ("Protocol summary (seed
// dialect, the default)"), byte for byte apart from the encrypted
// payloads, which are checked after decryption.
func TestWorkedExampleSession(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	cl := e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	const key = "D5F2F121" // "D5F2" + dict #2 + "12" + "1" of the peer 127.0.0.1

	r.send("PING\r\n")
	r.expect("ERROR Client not initialized. Send INIT command first.\r\n")
	r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("INFO DATA=V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw\r\n")
	info := decrypt(t, key, r.data())
	if got, want := formatted(info), "TT=Test\r\nID=00003e3b\r\nEX=2027-11-22\r\nEN=1\r\nCD=2025-03-04\r\nCT=05:06:07"; got != want {
		t.Fatalf("INFO payload %q, want %q", got, want)
	}
	_ = cl
	r.send("PING\r\n")
	r.expect("PONG\r\n")
	r.send("VERS\r\n")
	if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nVER=1.0.0\r\nBUILD=100\r\nDATE=2026-11-22\r\nC=0"; got != want {
		t.Fatalf("VERS payload %q, want %q", got, want)
	}
	r.send("ERRL [Error]Unable to check credentials\r\n")
	r.expect("200 OK\r\n")
	r.send("DWNL F=x\r\n")
	if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nSTATUS=NOFILES\r\nMESSAGE=No files available for download"; got != want {
		t.Fatalf("DWNL payload %q, want %q", got, want)
	}
	r.send("GREQ\r\n")
	r.expect("ERROR Unknown command: GREQ\r\n")
	r.send("INFO DATA=AAAA\r\n")
	r.expect("ERROR Failed to decrypt data\r\n")
	r.send("\r\n")
	r.expectClosed()

	errs, err := e.db.CloudreportErrors(context.Background(), "00003e3b", 0)
	if err != nil || len(errs) != 1 || errs[0].Text != "[Error]Unable to check credentials" || errs[0].Peer != "127.0.0.1" {
		t.Fatalf("stored reports %+v %v", errs, err)
	}
}

// Request → reply rows (docs/cloudreport.md, "Reference vectors") that do not need a registered
// client, plus framing rules (docs/cloudreport.md, "Framing"): bare LF, case-insensitive commands, pipelining.
func TestRequestReplyTable(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	r := dialRaw(t, e.addr)
	// The seed checks initialization before the command name
	// (docs/cloudreport.md, "Session state").
	r.send("FOO\r\nGREQ\r\nERRL x\r\n")
	r.expect(strings.Repeat("ERROR Client not initialized. Send INIT command first.\r\n", 3))
	r.send("INIT\r\n")
	r.expect("ERROR Invalid INIT command format. Use: INIT ID=x\r\n")
	r.send("INIT X=1\n")
	r.expect("ERROR Invalid INIT command format. Use: INIT ID=x\r\n")
	r.send("INIT ID=x\r\n")
	r.expect("ERROR Invalid client ID. Must be a number.\r\n")
	r.send("init ID=9\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=2\r\n")
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("Ping extra args\r\n")
	r.expect("PONG\r\n")
	r.send("ERRL hello world\r\n")
	r.expect("200 OK\r\n")
	r.send("FOO\r\n")
	r.expect("ERROR Unknown command: FOO\r\n")
	r.send("SRSP CMD=1 DATA=x\r\nEXIT\r\n")
	r.expect("ERROR Unknown command: SRSP\r\nERROR Unknown command: EXIT\r\n")
	// Pipelined requests in one segment are answered in order.
	r.send("PING\r\nPING\nERRL x\r\nPING\r\n")
	r.expect("PONG\r\nPONG\r\n200 OK\r\nPONG\r\n")
	// A bare CR does not end a line (it is whitespace inside one): one
	// request, one reply.
	r.send("PING\rPING\r\nFOO\r\n")
	r.expect("PONG\r\nERROR Unknown command: FOO\r\n")
	// The seed sent nothing for commands whose upper case is not Latin-1
	// (the client hung); we answer, with '?' for those characters.
	r.send("\xff\xfe\r\n")
	r.expect("ERROR Unknown command: ?\xde\r\n")
	r.send(" \t \r\n")
	r.expectClosed()
}

// docs/cloudreport.md, "Framing": 60 012-byte lines are processed, 70 012-byte ones close the
// connection silently.
func TestLineLimit(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("ERRL " + strings.Repeat("x", 60012-7) + "\r\n")
	r.expect("200 OK\r\n")
	r.send("ERRL " + strings.Repeat("y", 70012-7) + "\r\n")
	r.expectClosed()
	errs, _ := e.db.CloudreportErrors(context.Background(), "", 0)
	if len(errs) != 1 || len(errs[0].Text) != maxReportText {
		t.Fatalf("stored %d reports; first text %d bytes", len(errs), len(errs[0].Text))
	}
}

// Registration = known: INFO without DATA, undecryptable DATA,
// unknown and disabled clients get no grant.
func TestInfoNeedsRegisteredClient(t *testing.T) {
	t.Parallel()
	clock, advance := movingClock()
	e := start(t, conf(func(c *Config) { c.Registration = "known"; c.Now = clock }), netsvctest.DefaultLimits)
	e.register(t, "0000dead", false)
	e.register(t, "00003e3b", true)
	key := SeedKey("D5F2", 2, "127.0.0.1")
	enc := func(s string) string { v, _ := NewSeedCodec(key, 0).Encrypt([]byte(s)); return v }

	r := dialRaw(t, e.addr)
	r.send("INIT ID=2\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("INFO\r\n")
	r.expect("ERROR Missing DATA parameter\r\n")
	r.send("INFO DATA=" + enc("TT=Test\r\nID=0000beef") + "\r\n")
	r.expect("ERROR Error object not found\r\n")
	// The third failure closes the connection.
	r.send("INFO DATA=" + enc("TT=Test\r\nID=0000dead") + "\r\n")
	r.expect("ERROR Error object not found\r\n")
	r.expectClosed()

	// VERS and DWNL need a successful INFO first.
	r = dialRaw(t, e.addr)
	r.send("INIT ID=2\r\nVERS\r\nDWNL F=x\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.expect("ERROR Client not authenticated. Send INFO command first.\r\n")
	r.expect("ERROR Client not authenticated. Send INFO command first.\r\n")

	if err := e.db.CloudreportSetEnabled(context.Background(), "0000dead", true); err != nil {
		t.Fatal(err)
	}
	advance(registryCheckInterval) // the registry cache's bound
	r.send("INFO DATA=" + enc("TT=Test\r\nID=0000dead") + "\r\n")
	if id, _ := decrypt(t, key, r.data()).Get("ID"); id != "0000dead" {
		t.Fatalf("INFO after enable: ID %q", id)
	}
	r.send("VERS\r\n")
	if c, _ := decrypt(t, key, r.data()).Get("C"); c != "0" {
		t.Fatalf("VERS C=%q", c)
	}
}

// A disable reaches live traffic within the registry cache's bound
// (registration = known: refused; open: EN=0, TestOpenDisabledAndExpired).
// The cache runs on cfg.Now, so the test moves the clock instead of
// waiting.
func TestDisableTakesEffect(t *testing.T) {
	t.Parallel()
	clock, advance := movingClock()
	e := start(t, conf(func(c *Config) { c.Registration = "known"; c.Now = clock }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=2\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	infoOK(t, r, 2, "00003e3b")
	if err := e.db.CloudreportSetEnabled(context.Background(), "00003e3b", false); err != nil {
		t.Fatal(err)
	}
	advance(registryCheckInterval)
	d, _ := NewSeedCodec(SeedKey("D5F2", 2, "127.0.0.1"), 0).Encrypt([]byte("TT=Test\r\nID=00003e3b"))
	r.send("INFO DATA=" + d + "\r\n")
	r.expect("ERROR Error object not found\r\n")
}

// Flaw 1 (docs/cloudreport.md, "Seed flaws the service fixes"): every decrypt failure gives the same bytes (no padding oracle
// in the replies), and a connection gets MaxAuthFailures tries.
func TestDecryptFailuresAreUniformAndLimited(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.MaxAuthFailures = 4 }), netsvctest.DefaultLimits)
	key := SeedKey("D5F2", 1, "127.0.0.1")
	good, _ := NewSeedCodec(key, 0).Encrypt([]byte("TT=Test\r\nID=x"))
	badPad := flipLast(good)
	wrongKey, _ := NewSeedCodec("D5F2FFFF", 0).Encrypt([]byte("TT=Test"))
	r := dialRaw(t, e.addr)
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	for _, d := range []string{"AAAA", badPad, wrongKey} {
		r.send("ERRL DATA=" + d + "\r\n")
		r.expect("ERROR Failed to decrypt data\r\n")
	}
	r.send("INFO DATA=" + good[:len(good)-1] + "\r\n")
	r.expect("ERROR Failed to decrypt data\r\n")
	r.expectClosed()
}

// Flaw 3 (docs/cloudreport.md, "Seed flaws the service fixes"): keys, their hashes and plaintexts never reach the log, even at
// debug level.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=2\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("INFO DATA=V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw\r\n")
	r.data()
	key := SeedKey("D5F2", 2, "127.0.0.1")
	secret, _ := NewSeedCodec(key, 0).Encrypt([]byte("TT=Test\r\nPW=hunter2"))
	r.send("ERRL DATA=" + secret + "\r\n")
	r.expect("200 OK\r\n")
	r.send("\r\n")
	r.expectClosed()
	// netsvc logs "connection closed" after the session's last line.
	netsvctest.Eventually(t, "connection closed logged", 5*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "connection closed")
	})
	logs := e.logs.String()
	if !strings.Contains(logs, "INFO") {
		t.Fatalf("expected per-command log lines, got:\n%s", logs)
	}
	for _, s := range []string{"D5F2F121", "3d93541df1aeda86b1cb1eff0cdee238", "FN=Firm", "DLUKAREV", "hunter2"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains %q:\n%s", s, logs)
		}
	}
}

func infoOK(t *testing.T, r *raw, index int, id string) {
	t.Helper()
	key := SeedKey("D5F2", index, "127.0.0.1")
	d, _ := NewSeedCodec(key, 0).Encrypt([]byte("TT=Test\r\nID=" + id))
	r.send("INFO DATA=" + d + "\r\n")
	if got, _ := decrypt(t, key, r.data()).Get("ID"); got != id {
		t.Fatalf("INFO ID %q, want %q", got, id)
	}
}

// Flaw 6 (docs/cloudreport.md, "Seed flaws the service fixes"): sessions are keyed by the client identity from INFO, not the
// dictionary index. Many clients may share an index; a second live session
// of one client does not close the first (the seed kept both; closing it
// would let anyone who knows an id kick that client offline).
func TestSessionsKeyedByIdentity(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	e.register(t, "aaaa0001", true)
	e.register(t, "aaaa0002", true)
	a := dialRaw(t, e.addr)
	b := dialRaw(t, e.addr)
	for _, r := range []*raw{a, b} {
		r.send("INIT ID=4\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	}
	infoOK(t, a, 4, "aaaa0001")
	infoOK(t, b, 4, "aaaa0002")
	if got := strings.Join(e.srv.LiveClients(), ","); got != "aaaa0001,aaaa0002" {
		t.Fatalf("live %s", got)
	}
	// aaaa0001 connects again: both of its sessions stay.
	a2 := dialRaw(t, e.addr)
	a2.send("INIT ID=7\r\n")
	a2.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	infoOK(t, a2, 7, "aaaa0001")
	for _, r := range []*raw{a, b, a2} {
		r.send("PING\r\n")
		r.expect("PONG\r\n")
	}
	if n := e.srv.Sessions("aaaa0001"); n != 2 {
		t.Fatalf("aaaa0001 has %d sessions, want 2", n)
	}
	// One session's cleanup leaves the other.
	a2.send("\r\n")
	a2.expectClosed()
	waitFor(t, func() bool { return e.srv.Sessions("aaaa0001") == 1 })
	a.send("PING\r\n")
	a.expect("PONG\r\n")
	a.send("\r\n")
	a.expectClosed()
	waitFor(t, func() bool { return strings.Join(e.srv.LiveClients(), ",") == "aaaa0002" })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached within 5 s")
}

// The opt-in seed duplicate rejection keeps the exact bytes but fixes the
// seed's bug: the rejected connection no longer deletes the first one's
// entry, so a third connection is rejected too (flaw 6 in docs/cloudreport.md, "Seed flaws the service fixes"), and a re-INIT
// leaves no stale entry behind (flaw 7).
func TestCompatInitDuplicate(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.CompatInitDuplicate = true }), netsvctest.DefaultLimits)
	first := dialRaw(t, e.addr)
	first.send("INIT ID=4\r\n")
	first.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	for range 2 {
		dup := dialRaw(t, e.addr)
		dup.send("INIT ID=4\r\n")
		dup.expect("ERROR Client ID 4 already connected. Please try again later.\r\n")
		dup.expectClosed()
	}
	first.send("PING\r\n")
	first.expect("PONG\r\n")
	// Re-INIT moves the first connection to ID 6 and frees ID 4.
	first.send("INIT ID=6\r\n")
	first.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	other := dialRaw(t, e.addr)
	other.send("INIT ID=4\r\n")
	other.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	third := dialRaw(t, e.addr)
	third.send("INIT ID=6\r\n")
	third.expect("ERROR Client ID 6 already connected. Please try again later.\r\n")
	third.expectClosed()
}

// Flaw 8 (docs/cloudreport.md, "Seed flaws the service fixes"): the seed's INFO raised on 29 February.
func TestLeapDay(t *testing.T) {
	t.Parallel()
	leap := time.Date(2028, 2, 29, 23, 59, 0, 0, time.UTC)
	e := start(t, conf(func(c *Config) { c.Now = func() time.Time { return leap } }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=3\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	infoOK(t, r, 3, "00003e3b")
	r.send("VERS\r\n")
	if d, _ := decrypt(t, SeedKey("D5F2", 3, "127.0.0.1"), r.data()).Get("DATE"); d != "2028-02-29" {
		t.Fatalf("DATE %q", d)
	}
}

// VERS lists and DWNL serves the updates folder; names from the wire never
// leave it (flaw 13 in docs/cloudreport.md, "Seed flaws the service fixes", the historical path traversal).
func TestUpdatesFolder(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.MaxDownload = 1 << 10; c.MaxAuthFailures = 100 }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	upd := filepath.Join(e.dir, "updates")
	secret := filepath.Join(e.dir, "secret.txt")
	os.WriteFile(secret, []byte("top secret"), 0o600)
	os.WriteFile(filepath.Join(upd, "app-6.0.0.1.zip"), []byte("PK\x03\x04 binary \x00\xff"), 0o600)
	os.WriteFile(filepath.Join(upd, "big.bin"), bytes.Repeat([]byte{1}, 2<<10), 0o600)
	os.WriteFile(filepath.Join(upd, ".hidden"), []byte("h"), 0o600)
	os.Symlink(secret, filepath.Join(upd, "link.txt"))
	os.Mkdir(filepath.Join(upd, "sub"), 0o750)

	c, err := Dial(context.Background(), e.addr, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Init(2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(Fields{{"ID", "00003e3b"}}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Vers()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := v.Get("C"); n != "2" {
		t.Fatalf("VERS %q", formatted(v))
	}
	if f1, _ := v.Get("F1"); f1 != "app-6.0.0.1.zip" {
		t.Fatalf("F1 %q", f1)
	}
	if s2, _ := v.Get("S2"); s2 != "2048" {
		t.Fatalf("S2 %q", s2)
	}
	f, content, err := c.Download("app-6.0.0.1.zip")
	if err != nil || string(content) != "PK\x03\x04 binary \x00\xff" {
		t.Fatalf("download: %q %v (%s)", content, err, formatted(f))
	}
	for name, status := range map[string]string{"big.bin": "TOOLARGE", "missing.zip": "NOTFOUND", "link.txt": "NOTFOUND"} {
		f, content, err := c.Download(name)
		if st, _ := f.Get("STATUS"); err != nil || st != status || content != nil {
			t.Errorf("%s: %s %v", name, formatted(f), err)
		}
	}
	for _, name := range []string{"../secret.txt", "..", ".hidden", "/etc/passwd", "sub/x", `..\secret.txt`} {
		_, _, err := c.Download(name)
		var re *ReplyError
		if !errors.As(err, &re) || re.Text != "Invalid file name" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if f, _, err := c.Download(""); err != nil || formatted(f) != "TT=Test\r\nSTATUS=ERROR\r\nMESSAGE=Missing F parameter" {
		t.Errorf("no F: %s %v", formatted(f), err)
	}
}

// ERRL reports are stored with the client they came from; before INFO the
// INIT ID stands in; the per-connection cap holds.
func TestErrorReports(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.MaxErrorReports = 2 }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	c, err := Dial(context.Background(), e.addr, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Init(8); err != nil {
		t.Fatal(err)
	}
	if err := c.ReportError("[Error]Unable to initizlize communication! Terminate connection"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(Fields{{"ID", "00003e3b"}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"second", "third is not stored"} {
		if err := c.ReportError(s); err != nil {
			t.Fatal(err)
		}
	}
	errs, err := e.db.CloudreportErrors(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || errs[1].ClientID != "init:8" || errs[0].ClientID != "00003e3b" || errs[0].Text != "second" {
		t.Fatalf("reports %+v", errs)
	}
}

// A connection that never completes INIT is bounded by the handshake
// timeout (the seed kept half lines open forever).
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	lim := netsvctest.DefaultLimits
	lim.HandshakeTimeout = 300 * time.Millisecond
	e := start(t, DefaultConfig(), lim)
	r := dialRaw(t, e.addr)
	r.send("INI")
	began := time.Now()
	r.expectClosed()
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("closed after %s", d)
	}
	// After INIT the idle timeout applies instead.
	r = dialRaw(t, e.addr)
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	time.Sleep(500 * time.Millisecond)
	r.send("PING\r\n")
	r.expect("PONG\r\n")
}

// After INIT, a line that trickles in one byte at a time, each inside the
// idle timeout, is cut at the message timeout.
func TestTricklingLineCutAtMessageTimeout(t *testing.T) {
	t.Parallel()
	lim := netsvctest.DefaultLimits
	lim.IdleTimeout = time.Second
	lim.MessageTimeout = 300 * time.Millisecond
	e := start(t, DefaultConfig(), lim)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	began := time.Now()
	for i := 0; i < 30; i++ {
		r.c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := r.c.Write([]byte("P")); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.expectClosed()
	if d := time.Since(began); d > 2500*time.Millisecond {
		t.Fatalf("trickling line held the connection for %s", d)
	}
}

// The Go client against the server, seed dialect, every command.
func TestClientSeed(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	for _, id := range []int{1, 5, 9, 10, 11} {
		c, err := Dial(context.Background(), e.addr, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ir, err := c.Init(id)
		if err != nil || ir.Key != "D5F2" {
			t.Fatalf("id %d: %+v %v", id, ir, err)
		}
		info, err := c.Info(Fields{{"ID", "00003e3b"}, {"HS", "BENCHHOST"}})
		if err != nil {
			t.Fatalf("id %d: %v", id, err)
		}
		if en, _ := info.Get("EN"); en != "1" {
			t.Fatalf("EN %q", en)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// The experimental delphi dialect: HST gives the host part, DCPcrypt
// SHA-1/CFB-8 the cipher, and every reply is a single Indy reply.
func TestDelphiDialect(t *testing.T) {
	t.Parallel()
	for _, h := range []legacycrypto.Hash{legacycrypto.SHA1, legacycrypto.MD5} {
		e := start(t, conf(func(c *Config) { c.Dialect = "delphi"; c.DelphiHash = string(h); c.DelphiZlib = true }), netsvctest.DefaultLimits)
		e.register(t, "00003e3b", true)
		r := dialRaw(t, e.addr)
		r.send("PING\r\n")
		r.expect("510 Client not initialized. Send INIT command first.\r\n")
		r.send("INIT ID=2 DT=250411 TM=142807 ATP=EBOCloudReportApp.exe\r\n")
		r.expect("501 Hostname is empty\r\n")
		r.send("INIT ID=12 HST=DLUKAREV\r\n")
		r.expect("501 Invalid client ID: 12\r\n")
		r.send("INIT ID=x HST=DLUKAREV\r\nINIT ID=" + strings.Repeat("7", 40) + " HST=DLUKAREV\r\n")
		r.expect("501 Invalid client ID: x\r\n501 Invalid client ID: " + strings.Repeat("7", 32) + "...\r\n")
		r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
		codec, _ := NewDelphiCodec("D5F2FDLV", h, true, 0)
		d, _ := codec.Encrypt([]byte("TT=Test\r\nID=00003e3b\r\nHS=DLUKAREV"))
		r.send("INFO DATA=" + d + "\r\n")
		l := r.line()
		data, ok := strings.CutPrefix(l, "200 DATA=")
		if !ok {
			t.Fatalf("INFO reply %q", l)
		}
		p, err := codec.Decrypt(data)
		if err != nil || !strings.HasPrefix(string(p), "TT=Test\r\nID=00003e3b\r\n") {
			t.Fatalf("INFO payload %q %v", p, err)
		}
		r.send("PING\r\nGREQ\r\nSRSP CMD=0 DATA=\r\nERRL [Error]x\r\nEXIT\r\nINFO DATA=AAAA\r\n")
		r.expect("200\r\n200 CMD=0 DATA=\r\n200\r\n200\r\n503 Unknown command: EXIT\r\n504 Failed to decrypt data\r\n")

		c, err := Dial(context.Background(), e.addr, ClientOptions{Dialect: Delphi, HST: "WS-17", DelphiHash: h, DelphiZlib: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Init(9); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Info(Fields{{"ID", "00003e3b"}}); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Vers(); err != nil || len(v) == 0 {
			t.Fatalf("vers %v %v", v, err)
		}
		c.Close()
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	srv, err := New(DefaultConfig(), Env{Registry: db})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ns := netsvc.New(nil, nil)
	if err := ns.Listen(netsvc.Service{Name: "cloudreport", Addr: "127.0.0.1:0", Handler: srv, Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	ns.Start()
	r := dialRaw(t, ns.Addr("cloudreport").String())
	r.send("INIT ID=1\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := ns.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r.expectClosed()
}

// A delphi-dialect client against a seed server gets the server's "ERROR"
// reply as an error at once, not a read timeout (the line is no Indy end
// marker).
func TestDelphiClientSeesSeedError(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	c, err := Dial(context.Background(), e.addr, ClientOptions{Dialect: Delphi, HST: "WS-17", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Init(2); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = c.Info(Fields{{"ID", "00003e3b"}})
	var re *ReplyError
	if !errors.As(err, &re) || re.Code != "ERROR" || re.Text != "Failed to decrypt data" {
		t.Fatalf("INFO: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("error took %s", d)
	}
}

// Anyone may INIT and report, so the stored reports have a ceiling; the
// newest are kept.
func TestStoredReportsBounded(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.MaxStoredReports = 4 }), netsvctest.DefaultLimits)
	for c := range 3 {
		r := dialRaw(t, e.addr)
		r.send("INIT ID=1\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
		for i := range 4 {
			r.send("ERRL r" + strconv.Itoa(c*4+i) + "\r\n")
			r.expect("200 OK\r\n")
		}
	}
	errs, err := e.db.CloudreportErrors(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 4 || errs[0].Text != "r11" || errs[3].Text != "r8" {
		t.Fatalf("stored %+v", errs)
	}
}

// DWNL replies hold several copies of a file until written, so only
// MaxConcurrentDownloads are built at once; a slot is freed after the
// reply is written.
func TestDownloadsBounded(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.MaxConcurrentDownloads = 1 }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	os.WriteFile(filepath.Join(e.dir, "updates", "app.zip"), []byte("new version"), 0o600)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=2\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	infoOK(t, r, 2, "00003e3b")
	key := SeedKey("D5F2", 2, "127.0.0.1")
	for range 2 { // the second one only works when the first freed its slot
		r.send("DWNL F=app.zip\r\n")
		if st, _ := decrypt(t, key, r.data()).Get("STATUS"); st != "OK" {
			t.Fatalf("STATUS %q", st)
		}
	}
	e.srv.dlSem <- struct{}{} // another download in flight
	r.send("DWNL F=app.zip\r\n")
	r.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := r.br.ReadByte(); err == nil {
		t.Fatalf("DWNL answered (%q) while no slot was free", b)
	}
	<-e.srv.dlSem
	if st, _ := decrypt(t, key, r.data()).Get("STATUS"); st != "OK" {
		t.Fatalf("STATUS %q after the slot freed", st)
	}
	// Names that never reach the file take no slot.
	e.srv.dlSem <- struct{}{}
	r.send("DWNL F=../x\r\n")
	r.expect("ERROR Invalid file name\r\n")
	<-e.srv.dlSem
}
