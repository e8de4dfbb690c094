package backup

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
	"gatehouse/internal/syncbuf"
)

// env is one backup server on a loopback port with its store, blobs and a
// log buffer.
type env struct {
	t      testing.TB
	srv    *Server
	addr   string
	db     *store.DB
	blobs  blob.Store
	master []byte
	store  Store // what the server uses instead of db when set
	reg    *prometheus.Registry
	ns     *netsvc.Server
	logs   syncbuf.Buffer
}

func (e *env) Write(p []byte) (int, error) { return e.logs.Write(p) }

func (e *env) logText() string { return e.logs.String() }

// testConfig is DefaultConfig with mods applied, in order.
func testConfig(mods ...func(*Config)) Config {
	cfg := DefaultConfig()
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

func newEnv(t testing.TB, mods ...func(*Config)) *env {
	return newEnvLimits(t, netsvctest.DefaultLimits, mods...)
}

func newEnvLimits(t testing.TB, lim netsvc.Limits, mods ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, db: storetest.SQLite(t), reg: prometheus.NewRegistry()}
	e.blobs = newLocalBlobs(t)
	e.master = make([]byte, 32)
	rand.Read(e.master)
	return e.serve(testConfig(mods...), lim)
}

// newLocalBlobs is the service's part of a fresh local blob store.
func newLocalBlobs(t testing.TB) blob.Store {
	t.Helper()
	local, err := blob.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	return blob.Prefixed(local, "backup")
}

// newEnvOn is a server on the given store and blobs (PostgreSQL, S3).
func newEnvOn(t testing.TB, db *store.DB, blobs blob.Store, mods ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, db: db, blobs: blobs, reg: prometheus.NewRegistry(), master: make([]byte, 32)}
	rand.Read(e.master)
	return e.serve(testConfig(mods...), netsvctest.DefaultLimits)
}

// sibling is a second server (another daemon, in effect) on its own port,
// sharing e's store, blobs and master key.
func (e *env) sibling(mods ...func(*Config)) *env {
	e.t.Helper()
	return e.siblingLimits(netsvctest.DefaultLimits, mods...)
}

// siblingLimits is sibling with its own connection limits.
func (e *env) siblingLimits(lim netsvc.Limits, mods ...func(*Config)) *env {
	e.t.Helper()
	s := &env{t: e.t, db: e.db, blobs: e.blobs, master: e.master, reg: prometheus.NewRegistry()}
	return s.serve(testConfig(mods...), lim)
}

// envOf is the Env of e's server.
func (e *env) envOf() Env {
	env := Env{Store: e.db, Blobs: e.blobs, MasterKey: e.master}
	if e.store != nil {
		env.Store = e.store
	}
	return env
}

func (e *env) serve(cfg Config, lim netsvc.Limits) *env {
	t := e.t
	t.Helper()
	var err error
	if e.srv, err = New(cfg, e.envOf()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns := netsvc.New(log, netsvc.NewMetrics(e.reg))
	if err := ns.Listen(netsvc.Service{Name: "backup", Addr: "127.0.0.1:0", Handler: e.srv, Limits: lim}); err != nil {
		t.Fatal(err)
	}
	ns.Start()
	e.ns = ns
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ns.Shutdown(ctx)
		if n := e.counter("gatehouse_panics_total"); n != 0 {
			t.Errorf("%v handler panics", n)
		}
	})
	e.addr = ns.Addr("backup").String()
	return e
}

// counter reads a family of the backup service's series (0 when absent).
func (e *env) counter(name string) float64 {
	e.t.Helper()
	return netsvctest.Value(e.t, e.reg, name, map[string]string{"service": "backup"})
}

// closedTooSlow counts sessions cut by the minimum transfer rate.
func (e *env) closedTooSlow() float64 {
	e.t.Helper()
	return netsvctest.Value(e.t, e.reg, "gatehouse_connections_closed_total", map[string]string{"reason": "too_slow"})
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// sharedKey is one RSA-1024 e=17 key for the whole test binary: generating
// one per client would dominate the run time.
func sharedKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := GenerateLegacyKey(nil)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

func (e *env) client(name string) *Client {
	return &Client{Addr: e.addr, Name: name, Key: sharedKey(e.t), Timeout: 10 * time.Second, RetryDelay: 10 * time.Millisecond}
}

// newClient registers and exchanges keys.
func (e *env) newClient(name string) *Client {
	e.t.Helper()
	c := e.client(name)
	ctx := context.Background()
	if err := c.Register(ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := c.ExchangeKeys(ctx); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// raw sends bytes on a fresh connection and reads one response; ok is
// false when the server closed without answering.
func raw(t testing.TB, addr string, msg []byte) (h ResponseHeader, payload []byte, ok bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		return h, nil, false
	}
	h, payload, err = readResponse(conn)
	if err != nil {
		return h, nil, false
	}
	// Golden comparisons re-encode the frame with Response, which always
	// writes version 3; the byte that came over the wire is checked here.
	if h.Version != ServerVersion {
		t.Errorf("response version %d, want %d", h.Version, ServerVersion)
	}
	// One request per connection: the server closes after answering (a
	// reset when pipelined bytes were left unread, as the original).
	var one [1]byte
	if n, err := conn.Read(one[:]); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after the response: n=%d err=%v, want the connection closed", n, err)
	}
	return h, payload, true
}

func request(id ClientID, code uint16, payload []byte) []byte {
	b := AppendRequestHeader(nil, RequestHeader{ClientID: id, Version: 1, Code: code, PayloadSize: uint32(len(payload))})
	return append(b, payload...)
}

func nameField(t testing.TB, s string) []byte {
	f, err := NameField(s)
	if err != nil {
		t.Fatal(err)
	}
	return f[:]
}

func fileRequest(id ClientID, name []byte, ct []byte) []byte {
	p := make([]byte, 4, 4+len(name)+len(ct))
	p[0], p[1], p[2], p[3] = byte(len(ct)), byte(len(ct)>>8), byte(len(ct)>>16), byte(len(ct)>>24)
	p = append(p, name...)
	p = append(p, ct...)
	return request(id, CodeFile, p)
}

func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readBlob returns a stored blob's bytes. "<client-uuid>/<file>" names a
// client's file: the blob its row names as the current copy is read.
func (e *env) readBlob(name string) ([]byte, error) {
	if cid, file, ok := strings.Cut(name, "/"); ok {
		if _, err := ParseClientID(cid); err == nil {
			f, err := e.db.BackupFile(context.Background(), cid, file)
			if err != nil {
				return nil, err
			}
			name = f.Path
		}
	}
	rc, _, err := e.blobs.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// blobNames lists every committed blob.
func (e *env) blobNames() []string {
	e.t.Helper()
	all, err := e.blobs.List(context.Background(), "")
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, b := range all {
		names = append(names, b.Name)
	}
	return names
}

// waitBlobs waits (boundedly) until the committed blobs are exactly want:
// superseded blobs are deleted just after the answer that superseded them.
func (e *env) waitBlobs(want ...string) {
	e.t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if got = e.blobNames(); slices.Equal(got, want) {
			return
		}
	}
	e.t.Fatalf("blobs %v, want %v", got, want)
}

// putClient stores a client with a known AES key, as if it had done its
// key exchange, so the original's captured frames (docs/backup.md, "Worked
// example") can be replayed.
func (e *env) putClient(id ClientID, name string, aesKey []byte) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.db.BackupRegister(ctx, id.String(), name, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	der, _ := (&Client{Key: sharedKey(e.t)}).PublicKeyDER()
	sealed, err := e.srv.seal.seal(aesKey, id.String())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.BackupSetKeys(ctx, id.String(), der, sealed, nil, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rand.Read(p) }
