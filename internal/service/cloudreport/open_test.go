package cloudreport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// Open registration is the default: these tests replay the original
// client's bytes (the worked example and request table of
// docs/cloudreport.md) against DefaultConfig() on both engines.

// workedInfo is the INFO line of the worked example: enc("TT=Test\r\n
// ID=00003e3b\r\nFN=Firm\r\nHS=DLUKAREV", "D5F2F121").
const workedInfo = "INFO DATA=V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw\r\n"

const workedKey = "D5F2F121" // INIT ID=2 from 127.0.0.1

func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	if err := (<-ch).Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func encFor(index int, plain string) string {
	d, _ := NewSeedCodec(SeedKey("D5F2", index, "127.0.0.1"), 0).Encrypt([]byte(plain))
	return d
}

// The whole worked example against an empty registry: the unknown id is
// answered (the seed's payload, with the client's own id as ID) and
// recorded, and the admin list shows it.
func TestOpenUnknownClientWorkedExample(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		e := startReg(t, db, nil, DefaultConfig(), netsvctest.DefaultLimits)
		r := dialRaw(t, e.addr)
		r.send("PING\r\n")
		r.expect("ERROR Client not initialized. Send INIT command first.\r\n")
		r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
		r.send(workedInfo)
		// The seed's reply decrypts to TT=Test ID=2 EX=2027-11-22 EN=1
		// CD=2026-11-22 CT=12:33:32 on that day; ID is the client's id here.
		if got, want := formatted(decrypt(t, workedKey, r.data())), "TT=Test\r\nID=00003e3b\r\nEX=2027-11-22\r\nEN=1\r\nCD=2026-11-22\r\nCT=12:33:32"; got != want {
			t.Fatalf("INFO payload %q, want %q", got, want)
		}
		r.send("PING\r\n")
		r.expect("PONG\r\n")
		r.send("VERS\r\n")
		if got, want := formatted(decrypt(t, workedKey, r.data())), "TT=Test\r\nVER=1.0.0\r\nBUILD=100\r\nDATE=2026-11-22\r\nC=0"; got != want {
			t.Fatalf("VERS payload %q, want %q", got, want)
		}
		r.send("ERRL [Error]Unable to check credentials\r\n")
		r.expect("200 OK\r\n")
		r.send("DWNL F=x\r\n")
		if got, want := formatted(decrypt(t, workedKey, r.data())), "TT=Test\r\nSTATUS=NOFILES\r\nMESSAGE=No files available for download"; got != want {
			t.Fatalf("DWNL payload %q, want %q", got, want)
		}
		r.send("GREQ\r\n")
		r.expect("ERROR Unknown command: GREQ\r\n")
		r.send("INFO DATA=AAAA\r\n")
		r.expect("ERROR Failed to decrypt data\r\n")
		r.send("\r\n")
		r.expectClosed()

		list, err := e.db.CloudreportListClients(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("registry %+v", list)
		}
		c := list[0]
		if c.ID != "00003e3b" || c.Name != "Firm" || !c.Enabled || c.Expires.Format("2006-01-02") != "2027-11-22" ||
			!c.FirstSeen.Equal(testNow) || !c.LastSeen.Equal(testNow) || c.LastAddr != "127.0.0.1" {
			t.Fatalf("recorded %+v", c)
		}
		if v := metricValue(t, e.srv.m.registered); v != 1 {
			t.Fatalf("recorded counter %v", v)
		}
		errs, err := e.db.CloudreportErrors(context.Background(), "00003e3b", 0)
		if err != nil || len(errs) != 1 {
			t.Fatalf("stored reports %+v %v", errs, err)
		}
	})
}

// VERS and DWNL right after INIT are answered as the seed answers them.
func TestOpenVersDwnlRightAfterInit(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=1\r\nVERS\r\nDWNL F=x\r\nDWNL\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	key := SeedKey("D5F2", 1, "127.0.0.1")
	if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nVER=1.0.0\r\nBUILD=100\r\nDATE=2026-11-22\r\nC=0"; got != want {
		t.Fatalf("VERS payload %q, want %q", got, want)
	}
	for range 2 {
		if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nSTATUS=NOFILES\r\nMESSAGE=No files available for download"; got != want {
			t.Fatalf("DWNL payload %q, want %q", got, want)
		}
	}
}

// INFO without DATA, or whose DATA names no usable ID, gets the seed's
// answer: the INIT number as ID, enabled, one year; nothing is
// recorded.
func TestOpenInfoWithoutID(t *testing.T) {
	t.Parallel()
	e := start(t, DefaultConfig(), netsvctest.DefaultLimits)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=2\r\nINFO\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	want := "TT=Test\r\nID=2\r\nEX=2027-11-22\r\nEN=1\r\nCD=2026-11-22\r\nCT=12:33:32"
	if got := formatted(decrypt(t, workedKey, r.data())); got != want {
		t.Fatalf("INFO without DATA: %q, want %q", got, want)
	}
	r.send("INFO DATA=" + encFor(2, "TT=Test\r\nHS=X") + "\r\n")
	if got := formatted(decrypt(t, workedKey, r.data())); got != want {
		t.Fatalf("INFO without ID: %q, want %q", got, want)
	}
	if list, _ := e.db.CloudreportListClients(context.Background()); len(list) != 0 {
		t.Fatalf("recorded %+v", list)
	}
}

// 00003E3B is 00003e3b: the registered row answers, nothing new is
// recorded, and the reply's ID is spelled as the client spelled it.
func TestOpenMixedCaseID(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		e := startReg(t, db, nil, DefaultConfig(), netsvctest.DefaultLimits)
		e.register(t, "00003E3B", true) // the store keeps it lower case
		r := dialRaw(t, e.addr)
		r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
		for _, id := range []string{"00003E3B", "00003e3b"} {
			r.send("INFO DATA=" + encFor(2, "TT=Test\r\nID="+id+"\r\nFN=Firm\r\nHS=DLUKAREV") + "\r\n")
			if got, want := formatted(decrypt(t, workedKey, r.data())), "TT=Test\r\nID="+id+"\r\nEX=2027-11-22\r\nEN=1\r\nCD=2025-03-04\r\nCT=05:06:07"; got != want {
				t.Fatalf("INFO %s: %q, want %q", id, got, want)
			}
		}
		list, _ := e.db.CloudreportListClients(context.Background())
		if len(list) != 1 || list[0].ID != "00003e3b" {
			t.Fatalf("registry %+v", list)
		}
		if got := strings.Join(e.srv.LiveClients(), ","); got != "00003e3b" {
			t.Fatalf("live %s", got)
		}
	})
}

// A second connection of one id does not close the first; it is counted.
func TestOpenSecondConnectionKeepsFirst(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		e := startReg(t, db, nil, DefaultConfig(), netsvctest.DefaultLimits)
		first := dialRaw(t, e.addr)
		second := dialRaw(t, e.addr)
		for _, r := range []*raw{first, second} {
			r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
			r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
			r.send(workedInfo)
			r.data()
		}
		for _, r := range []*raw{first, second, first} {
			r.send("PING\r\n")
			r.expect("PONG\r\n")
		}
		if n := e.srv.Sessions("00003e3b"); n != 2 {
			t.Fatalf("sessions %d", n)
		}
		if d, g := metricValue(t, e.srv.m.duplicates), metricValue(t, e.srv.m.multiIDs); d != 1 || g != 1 {
			t.Fatalf("duplicates %v, ids with several sessions %v", d, g)
		}
		second.send("\r\n")
		second.expectClosed()
		waitFor(t, func() bool { return metricValue(t, e.srv.m.multiIDs) == 0 })
		first.send("PING\r\n")
		first.expect("PONG\r\n")
	})
}

// A disabled client gets EN=0, an expired one its real EX, not an error.
func TestOpenDisabledAndExpired(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		e := startReg(t, db, nil, DefaultConfig(), netsvctest.DefaultLimits)
		e.register(t, "0000dead", false)
		old := store.CloudreportClient{ID: "00000ld1", Name: "Old", Enabled: true,
			Expires: time.Date(2020, 1, 31, 0, 0, 0, 0, time.UTC), Created: time.Date(2019, 1, 31, 8, 0, 0, 0, time.UTC)}
		if err := e.db.CloudreportAddClient(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		r := dialRaw(t, e.addr)
		r.send("INIT ID=3\r\n")
		r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
		key := SeedKey("D5F2", 3, "127.0.0.1")
		r.send("INFO DATA=" + encFor(3, "TT=Test\r\nID=0000DEAD") + "\r\n")
		if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nID=0000DEAD\r\nEX=2027-11-22\r\nEN=0\r\nCD=2025-03-04\r\nCT=05:06:07"; got != want {
			t.Fatalf("disabled: %q, want %q", got, want)
		}
		r.send("INFO DATA=" + encFor(3, "TT=Test\r\nID=00000ld1") + "\r\n")
		if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nID=00000ld1\r\nEX=2020-01-31\r\nEN=1\r\nCD=2019-01-31\r\nCT=08:00:00"; got != want {
			t.Fatalf("expired: %q, want %q", got, want)
		}
		// Neither counts as a failure: the connection is still served.
		r.send("PING\r\n")
		r.expect("PONG\r\n")
	})
}

// countingRegistry counts last-seen writes.
type countingRegistry struct {
	*store.DB
	mu      sync.Mutex
	touches [][]store.CloudreportSeen
}

func (c *countingRegistry) CloudreportTouchClients(ctx context.Context, seen []store.CloudreportSeen) error {
	c.mu.Lock()
	c.touches = append(c.touches, seen)
	c.mu.Unlock()
	return c.DB.CloudreportTouchClients(ctx, seen)
}

// INFOs only note the last-seen time; it is written once per interval
// for every client seen in it, and at Close.
func TestLastSeenCoalesced(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	reg := &countingRegistry{DB: db}
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startReg(t, db, reg, conf(func(c *Config) { c.Now = clock; c.SeenFlushInterval = time.Hour }), netsvctest.DefaultLimits)
	e.register(t, "aaaa0001", true)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=4\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	for i := range 50 {
		mu.Lock()
		now = testNow.Add(time.Duration(i) * time.Second)
		mu.Unlock()
		infoOK(t, r, 4, "aaaa0001")
		infoOK(t, r, 4, "BBBB0002") // recorded on the first, noted after
	}
	reg.mu.Lock()
	n := len(reg.touches)
	reg.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d last-seen writes before the interval", n)
	}
	if err := e.srv.FlushSeen(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(reg.touches) != 1 || len(reg.touches[0]) != 2 {
		t.Fatalf("writes %+v", reg.touches)
	}
	want := testNow.Add(49 * time.Second)
	for _, id := range []string{"aaaa0001", "bbbb0002"} {
		c, err := db.CloudreportClient(context.Background(), id)
		if err != nil || !c.LastSeen.Equal(want) || c.LastAddr != "127.0.0.1" {
			t.Fatalf("%s: %+v %v", id, c, err)
		}
	}
	// Close writes what is still pending.
	mu.Lock()
	now = want.Add(time.Minute)
	mu.Unlock()
	infoOK(t, r, 4, "aaaa0001")
	r.send("\r\n")
	r.expectClosed()
	e.srv.Close()
	if c, _ := db.CloudreportClient(context.Background(), "aaaa0001"); !c.LastSeen.Equal(now) {
		t.Fatalf("after Close: last seen %s, want %s", c.LastSeen, now)
	}
}

// The pending map is bounded: past MaxSeenPending new clients wait.
func TestSeenTrackerBounded(t *testing.T) {
	t.Parallel()
	tr := seenTracker{max: 2}
	for i := range 5 {
		tr.note(fmt.Sprint("id", i), testNow, "a")
	}
	tr.note("id0", testNow.Add(time.Second), "b") // an entry already held is updated
	list, skipped := tr.take()
	if len(list) != 2 || skipped != 3 {
		t.Fatalf("list %+v skipped %d", list, skipped)
	}
	if list, _ := tr.take(); len(list) != 0 {
		t.Fatalf("after take %+v", list)
	}
}

// Over the per-address first-seen limit a new id is still answered as
// usual (a legitimate client cannot tell), but not recorded until a later
// INFO finds budget again; the limit is counted.
func TestFirstSeenRateLimited(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.FirstSeenRate = 1; c.FirstSeenBurst = 2 }), netsvctest.DefaultLimits)
	var mu sync.Mutex
	lnow := time.Now()
	e.srv.limiter.SetNow(func() time.Time { mu.Lock(); defer mu.Unlock(); return lnow })
	r := dialRaw(t, e.addr)
	r.send("INIT ID=4\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	key := SeedKey("D5F2", 4, "127.0.0.1")
	for _, id := range []string{"cccc0001", "cccc0002", "cccc0003"} {
		r.send("INFO DATA=" + encFor(4, "TT=Test\r\nID="+id) + "\r\n")
		if got, want := formatted(decrypt(t, key, r.data())), "TT=Test\r\nID="+id+"\r\nEX=2027-11-22\r\nEN=1\r\nCD=2026-11-22\r\nCT=12:33:32"; got != want {
			t.Fatalf("%s: %q, want %q", id, got, want)
		}
	}
	list, _ := e.db.CloudreportListClients(context.Background())
	if len(list) != 2 {
		t.Fatalf("recorded %+v", list)
	}
	if v := metricValue(t, e.srv.m.rateLimited); v != 1 {
		t.Fatalf("rate limited counter %v", v)
	}
	// A second later the bucket has a token: the next INFO records it.
	mu.Lock()
	lnow = lnow.Add(time.Second)
	mu.Unlock()
	infoOK(t, r, 4, "cccc0003")
	if list, _ := e.db.CloudreportListClients(context.Background()); len(list) != 3 {
		t.Fatalf("recorded after refill %+v", list)
	}
	if !strings.Contains(e.logs.String(), "per-address first-seen limit") {
		t.Fatal("no log line for the limit")
	}
}

// failingRegistry is a store whose writes fail as on a full disk.
type failingRegistry struct{ *store.DB }

var errDiskFull = fmt.Errorf("store: write: %w", syscall.ENOSPC)

func (failingRegistry) CloudreportAddError(context.Context, store.CloudreportError) error {
	return errDiskFull
}

func (failingRegistry) CloudreportRegisterSeen(_ context.Context, c store.CloudreportClient) (store.CloudreportClient, bool, error) {
	return c, false, errDiskFull
}

func (failingRegistry) CloudreportTouchClients(context.Context, []store.CloudreportSeen) error {
	return errDiskFull
}

// With the store unable to write: an ERRL is never answered 200 OK (the
// seed's ERRL failure reply, 520 in the delphi dialect) and the log says
// why; reads keep working: a new client is answered, just not recorded.
func TestWriteFailuresAreReported(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	e := startReg(t, db, failingRegistry{db}, DefaultConfig(), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("ERRL [Error]Unable to check credentials\r\n")
	r.expect("ERROR Error processing ERRL command: report not stored\r\n")
	r.send(workedInfo)
	if id, _ := decrypt(t, workedKey, r.data()).Get("ID"); id != "00003e3b" {
		t.Fatalf("INFO of a registered client: ID %q", id)
	}
	r.send("INFO DATA=" + encFor(2, "TT=Test\r\nID=0000new1") + "\r\n")
	if en, _ := decrypt(t, workedKey, r.data()).Get("EN"); en != "1" {
		t.Fatalf("new client EN %q", en)
	}
	if err := e.srv.FlushSeen(context.Background()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush: %v", err)
	}
	logs := e.logs.String()
	for _, want := range []string{"ERRL: cannot store report", "new client not recorded: store write failed", "cannot write last-seen times"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Count(logs, "no space left on device") < 3 {
		t.Errorf("log does not name the underlying error:\n%s", logs)
	}

	d := startReg(t, db, failingRegistry{db}, conf(func(c *Config) { c.Dialect = "delphi" }), netsvctest.DefaultLimits)
	r = dialRaw(t, d.addr)
	r.send("INIT ID=2 HST=DLUKAREV\r\nERRL [Error]x\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n520 Error processing ERRL command: report not stored\r\n")
}

func TestParseRegistration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Registration{"": Open, "open": Open, "known": Known} {
		if got, err := ParseRegistration(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseRegistration("Open "); err == nil {
		t.Error("a bad value was accepted")
	}
	if Open.String() != "open" || Known.String() != "known" {
		t.Error("String")
	}
}
