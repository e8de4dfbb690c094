// Package svckit is what a service's Build gets from the daemon (Deps) and
// the optional interfaces the daemon runs on what it builds. It imports no
// service, no daemon and no config, so every service package may use it.
package svckit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Runner is background work a service's handler may implement: the daemon
// runs Run in its own goroutine from start-up until shutdown (ctx is
// cancelled after the listeners have drained) and waits for it to return.
// A non-nil error other than the context's is logged. A handler that also
// implements io.Closer is closed after that (or after the drain, without
// Run).
type Runner interface {
	Run(ctx context.Context) error
}

// Reloader is a handler that re-reads or drops runtime state on the
// daemon's reload (SIGHUP): cloudreport drops its registry cache. Reload
// must not disturb a request in flight; an error is logged and the service
// keeps serving with what it had.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Deps is what a service gets from the daemon. A service uses only the
// shared parts named here, never another service.
type Deps struct {
	Name    string // the service's name in the list
	DataDir string // the daemon's data directory
	Host    string // the address the default listeners bind
	Store   *store.DB
	Blob    blob.Store // names are already scoped to the service ("<name>/…" underneath)
	// BlobShared is true when the blob store is shared by every daemon on
	// it (blob.url is set), false for this daemon's own folder.
	BlobShared bool
	Log        *slog.Logger
	Registry   prometheus.Registerer
	// Listen is the address the daemon will bind for the service. A Build
	// may change it, e.g. to honour a legacy port file, but should only do
	// so when ListenFromConfig is false: an operator's explicit address wins.
	Listen           string
	ListenFromConfig bool
	// Commands and RateLimited, when Build sets them, are the service's
	// request names (the values it passes to Conn.Request) and the "what"
	// values it passes to Conn.RateLimited: their series exist at zero from
	// start-up, so an alert sees the first event.
	Commands    []string
	RateLimited []string

	// Extra are the listeners added with AddListener; NoListen is set by
	// SkipListen. The daemon reads both after Build.
	Extra    []netsvc.Service
	NoListen bool
}

// AddListener opens another listener for the service (zmqcmd's CURVE
// port) under its own name in logs, metrics and /healthz, with the
// service's limits.
func (d *Deps) AddListener(name, addr string, h netsvc.Handler) {
	d.Extra = append(d.Extra, netsvc.Service{Name: name, Addr: addr, Handler: h})
}

// SkipListen tells the daemon not to open the service's own listener (Listen),
// only those added with AddListener.
func (d *Deps) SkipListen() { d.NoListen = true }

// Dir returns the service's own folder in the data directory
// (<data>/<service>), creating it 0750.
func (d *Deps) Dir() (string, error) {
	p := filepath.Join(d.DataDir, d.Name)
	if err := os.MkdirAll(p, 0o750); err != nil {
		return "", err
	}
	return p, nil
}

// Fingerprint is the OpenSSH-style "SHA256:…" fingerprint of key material,
// domain-separated by label so a secret key's pin reveals nothing usable.
func Fingerprint(label string, key []byte) string {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(key)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h.Sum(nil))
}

// PinKey checks that the key named name (e.g. "e2eeftp/server_id") has the
// fingerprint every daemon sharing the store has: the first daemon records
// it, a later one holding a different key refuses to start, rather than
// serving clients a different identity or unable to open what the others
// sealed.
func (d *Deps) PinKey(ctx context.Context, name, fingerprint string) error {
	pinned, err := d.Store.PinKey(ctx, name, fingerprint, time.Now())
	if err != nil {
		return err
	}
	if pinned != fingerprint {
		return fmt.Errorf("key %s here is %s, but the store records %s (the key the daemons sharing it use): "+
			"copy the key file from a daemon that serves (README \"Running several daemons\"), "+
			"or after a deliberate rotation forget the old pin with 'gatehouse admin keys unpin %s'",
			name, fingerprint, pinned, name)
	}
	return nil
}
