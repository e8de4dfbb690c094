package cloudreport

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// requests is gatehouse_requests_total{service="cloudreport",command,status}.
func requests(t *testing.T, reg *prometheus.Registry, cmd string, status netsvc.Status) float64 {
	t.Helper()
	return netsvctest.Value(t, reg, "gatehouse_requests_total", map[string]string{"service": "cloudreport", "command": cmd, "status": string(status)})
}

// wantRequests checks the counts of the status vocabulary
// (docs/cloudreport.md, "Metrics"); statuses not named must be zero.
func wantRequests(t *testing.T, reg *prometheus.Registry, cmd string, want map[netsvc.Status]float64) {
	t.Helper()
	for _, st := range netsvc.Statuses {
		if got := requests(t, reg, cmd, st); got != want[st] {
			t.Errorf("%s %s: %v, want %v", cmd, st, got, want[st])
		}
	}
}

// settled waits until the last request of a session is counted.
func settled(t *testing.T, reg *prometheus.Registry, cmd string, status netsvc.Status, n float64) {
	t.Helper()
	netsvctest.Eventually(t, cmd+" "+string(status)+" counted", 5*time.Second, func() bool {
		return requests(t, reg, cmd, status) == n
	})
}

// lookupFailing is a registry whose reads fail.
type lookupFailing struct{ *store.DB }

func (lookupFailing) CloudreportClient(context.Context, string) (store.CloudreportClient, error) {
	return store.CloudreportClient{}, fmt.Errorf("store: cloudreport client: %w", errDiskFull)
}

// Each answer is counted under the status of its cause: format errors,
// requests before INIT and unknown commands are client_error; unknown
// ids, failed decrypts, missing authentication and limits are refused;
// store failures server_error.
func TestRequestStatuses(t *testing.T) {
	t.Parallel()
	e := start(t, conf(func(c *Config) { c.Registration = "known"; c.MaxErrorReports = 1; c.MaxAuthFailures = 10 }), netsvctest.DefaultLimits)
	e.register(t, "00003e3b", true)
	r := dialRaw(t, e.addr)
	r.send("PING\r\n")
	r.expect("ERROR Client not initialized. Send INIT command first.\r\n")
	r.send("INIT X\r\n")
	r.line()
	r.send("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send("FOO\r\n")
	r.line()
	r.send("VERS\r\n") // known registration, no INFO yet
	r.line()
	r.send("INFO DATA=AAAA\r\n")
	r.expect("ERROR Failed to decrypt data\r\n")
	r.send("INFO DATA=" + encFor(2, "TT=Test\r\nID=0000beef") + "\r\n")
	r.expect("ERROR Error object not found\r\n")
	r.send(workedInfo)
	r.data()
	r.send("DWNL F=../x\r\n")
	r.line()
	r.send("DWNL F=x.zip\r\n") // no files at all: NOFILES
	r.data()
	r.send("ERRL [Error]one\r\n")
	r.expect("200 OK\r\n")
	r.send("ERRL [Error]two\r\n") // over max_error_reports: not stored
	r.expect("200 OK\r\n")
	r.send("PING\r\n")
	r.expect("PONG\r\n")

	// A request is counted just after its reply is written.
	settled(t, e.prom, "PING", netsvc.StatusOK, 1)
	wantRequests(t, e.prom, "PING", map[netsvc.Status]float64{netsvc.StatusClientError: 1, netsvc.StatusOK: 1})
	wantRequests(t, e.prom, "INIT", map[netsvc.Status]float64{netsvc.StatusClientError: 1, netsvc.StatusOK: 1})
	wantRequests(t, e.prom, "UNKNOWN", map[netsvc.Status]float64{netsvc.StatusClientError: 1})
	wantRequests(t, e.prom, "VERS", map[netsvc.Status]float64{netsvc.StatusRefused: 1})
	wantRequests(t, e.prom, "INFO", map[netsvc.Status]float64{netsvc.StatusRefused: 2, netsvc.StatusOK: 1})
	wantRequests(t, e.prom, "DWNL", map[netsvc.Status]float64{netsvc.StatusClientError: 2})
	wantRequests(t, e.prom, "ERRL", map[netsvc.Status]float64{netsvc.StatusOK: 1, netsvc.StatusRefused: 1})

	// Store failures: a report not stored, a registry that cannot be read.
	db := storetest.SQLite(t)
	f := startReg(t, db, failingRegistry{db}, DefaultConfig(), netsvctest.DefaultLimits)
	r = dialRaw(t, f.addr)
	r.send("INIT ID=2\r\nERRL [Error]x\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\nERROR Error processing ERRL command: report not stored\r\n")
	r.send("INFO DATA=" + encFor(2, "TT=Test\r\nID=0000new1") + "\r\n") // answered, not recorded
	r.data()
	settled(t, f.prom, "INFO", netsvc.StatusServerError, 1)
	wantRequests(t, f.prom, "ERRL", map[netsvc.Status]float64{netsvc.StatusServerError: 1})
	wantRequests(t, f.prom, "INFO", map[netsvc.Status]float64{netsvc.StatusServerError: 1})

	g := startReg(t, db, lookupFailing{db}, DefaultConfig(), netsvctest.DefaultLimits)
	r = dialRaw(t, g.addr)
	r.send("INIT ID=2\r\n")
	r.expect("200-KEY=D5F2\r\n200 LEN=1\r\n")
	r.send(workedInfo)
	r.line()
	settled(t, g.prom, "INFO", netsvc.StatusServerError, 1)
	wantRequests(t, g.prom, "INFO", map[netsvc.Status]float64{netsvc.StatusServerError: 1})
}

// A reply that cannot be written whole: the update source's fault is the
// server's, a write deadline a timeout, a broken connection closed.
func TestWriteStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want netsvc.Status
	}{
		{errUpdateChanged, netsvc.StatusServerError},
		{&updateReadError{errDiskFull}, netsvc.StatusServerError},
		{fmt.Errorf("write: %w", os.ErrDeadlineExceeded), netsvc.StatusTimeout},
		{syscall.EPIPE, netsvc.StatusClosed},
		{net.ErrClosed, netsvc.StatusClosed},
	} {
		if got := writeStatus(tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
	// The update reader tags read errors only.
	if _, err := (updateReader{iotest.ErrReader(errDiskFull)}).Read(make([]byte, 1)); writeStatus(err) != netsvc.StatusServerError {
		t.Errorf("read error %v not the server's", err)
	}
}
