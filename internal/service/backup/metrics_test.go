package backup

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store/storetest"
)

// requests is gatehouse_requests_total for one command and status.
func (e *env) requests(command string, status netsvc.Status) float64 {
	e.t.Helper()
	return netsvctest.Value(e.t, e.reg, "gatehouse_requests_total", map[string]string{"command": command, "status": string(status)})
}

// waitRequests waits (boundedly) until command has want requests of
// status: a request is counted just after its answer went out, so a client
// that got the answer may look before.
func (e *env) waitRequests(command string, status netsvc.Status, want float64) {
	e.t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = e.requests(command, status); got == want {
			return
		}
	}
	e.t.Fatalf("%s %s: %v requests, want %v", command, status, got, want)
}

// Every answer maps onto netsvc's status vocabulary (docs/backup.md,
// "Metrics"): a served request is ok, a malformed one client_error, a
// policy's no refused, a connection that went away closed.
func TestRequestStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("counted")
	e.waitRequests("register", netsvc.StatusOK, 1)
	e.waitRequests("public_key", netsvc.StatusOK, 1)
	// A bad name: 2107, client_error.
	if h, _, ok := raw(t, e.addr, request(ClientID{}, CodeRegister, append([]byte("bad\xffname"), make([]byte, 246)...))); !ok || h.Code != RespError {
		t.Fatalf("bad name answered %d %v", h.Code, ok)
	}
	if got := e.requests("register", netsvc.StatusClientError); got != 1 {
		t.Fatalf("register client_error %v", got)
	}
	// An unknown id reconnecting: 2106, refused.
	if h, _, ok := raw(t, e.addr, request(ClientID{1}, CodeReconnect, nameField(t, "counted"))); !ok || h.Code != RespReconnectDenied {
		t.Fatalf("unknown reconnect answered %d %v", h.Code, ok)
	}
	if got := e.requests("reconnect", netsvc.StatusRefused); got != 1 {
		t.Fatalf("reconnect refused %v", got)
	}
	// A 1026 for a known id under another name: 2107, refused.
	der, _ := c.PublicKeyDER()
	if h, _, ok := raw(t, e.addr, request(c.ID, CodePublicKey, append(nameField(t, "someone else"), der...))); !ok || h.Code != RespError {
		t.Fatalf("foreign name answered %d %v", h.Code, ok)
	}
	if got := e.requests("public_key", netsvc.StatusRefused); got != 1 {
		t.Fatalf("public_key refused %v", got)
	}
	// An upload that is whole but badly padded: 2107, refused.
	bad := make([]byte, 32)
	for i := 0; ; i++ {
		bad[0] = byte(i)
		if _, err := DecryptFile(c.AESKey, bad); err != nil {
			break
		}
	}
	if h, _, ok := raw(t, e.addr, fileRequest(c.ID, nameField(t, "f"), bad)); !ok || h.Code != RespError {
		t.Fatalf("bad padding answered %d %v", h.Code, ok)
	}
	if got := e.requests("file", netsvc.StatusRefused); got != 1 {
		t.Fatalf("file refused %v", got)
	}
	// A good upload and its 1029: ok.
	upload(t, c, "g", []byte("good"))
	e.waitRequests("file", netsvc.StatusOK, 1)
	e.waitRequests("crc_ok", netsvc.StatusOK, 1)
	// A client that goes away in the middle of its payload: closed.
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	msg := request(c.ID, CodeReconnect, nameField(t, "counted"))
	if _, err := conn.Write(msg[:len(msg)-10]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	e.waitRequests("reconnect", netsvc.StatusClosed, 1)
	for _, st := range []netsvc.Status{netsvc.StatusServerError, netsvc.StatusTimeout} {
		for _, cmd := range MetricCommands() {
			if n := e.requests(cmd, st); n != 0 {
				t.Errorf("%s %s: %v", cmd, st, n)
			}
		}
	}
}

// failingStore fails the store calls of a registration and a reconnect.
type failingStore struct{ Store }

var errStoreDown = errors.New("store down")

func (failingStore) BackupRegister(context.Context, string, string, time.Time) error {
	return errStoreDown
}

// A failure of ours is a server_error, whether it is answered or not.
func TestRequestStatusServerError(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	e := &env{t: t, db: db, store: failingStore{db}, reg: prometheus.NewRegistry(), master: make([]byte, 32)}
	e.blobs = newLocalBlobs(t)
	e.serve(testConfig(), netsvctest.DefaultLimits)
	if _, _, ok := raw(t, e.addr, request(ClientID{}, CodeRegister, nameField(t, "x"))); ok {
		t.Fatal("answered a registration the store refused")
	}
	if got := e.requests("register", netsvc.StatusServerError); got != 1 {
		t.Fatalf("register server_error %v", got)
	}
}
