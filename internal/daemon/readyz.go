package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// storageCheckInterval is how often the free space of the store's and the
// blob store's folders is checked for the low-space warning.
const storageCheckInterval = time.Minute

// partState is the readiness of one storage part.
type partState struct {
	name   string // "store" or "blobs"
	state  string // "ok", "degraded", "down"
	reason string
	dir    string // folder whose file system was measured ("" when none)
	freeMB int64  // -1 when unknown
}

func (p partState) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", p.name, p.state)
	if p.freeMB >= 0 {
		fmt.Fprintf(&b, " free_mb=%d", p.freeMB)
	}
	if p.dir != "" {
		fmt.Fprintf(&b, " dir=%q", p.dir)
	}
	if p.reason != "" {
		fmt.Fprintf(&b, " reason=%q", p.reason)
	}
	return b.String()
}

// storeDir is the folder of the SQLite file, or "" for PostgreSQL.
func (d *Daemon) storeDir() string {
	dsn := d.cfg.Store.DSN
	switch {
	case dsn == "":
		return d.cfg.DataDir
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return ""
	}
	return filepath.Dir(strings.TrimPrefix(dsn, "sqlite://"))
}

// blobDir is the local blob store's folder, or "" for S3.
func (d *Daemon) blobDir() string {
	if l, ok := d.Blob.(interface{ Dir() string }); ok {
		return l.Dir()
	}
	return ""
}

// diskState judges the free space of dir against storage.min_free_mb.
func (d *Daemon) diskState(name, dir string) partState {
	p := partState{name: name, state: "ok", dir: dir, freeMB: -1}
	if dir == "" {
		return p
	}
	free, ok := freeBytes(dir)
	if !ok {
		return p
	}
	p.freeMB = int64(free >> 20)
	min := d.cfg.Storage.MinFreeMB
	switch {
	case free < 1<<20:
		p.state, p.reason = "degraded", "no space left: writes fail, reads still work"
	case min > 0 && p.freeMB < min:
		p.state, p.reason = "degraded", fmt.Sprintf("low free space: %d MB, under storage.min_free_mb %d", p.freeMB, min)
	}
	return p
}

// storageStates checks the store (reachable, free space) and the blob
// store (free space; S3 is only reported).
func (d *Daemon) storageStates(ctx context.Context) []partState {
	st := d.diskState("store", d.storeDir())
	if d.Store.Engine == store.Postgres {
		st.reason = "postgres: free space not measured here"
	}
	if err := d.Store.PingContext(ctx); err != nil {
		st.state, st.reason = "down", "not answering: "+err.Error()
	}
	bl := d.diskState("blobs", d.blobDir())
	if d.blobDir() == "" {
		bl.reason = "remote blob store: free space not measured here"
	}
	return []partState{st, bl}
}

// readyz answers /readyz: 200 when the store and the blob store can take
// writes, 503 with the reasons when either is down or degraded (full, or
// under storage.min_free_mb). /healthz stays the liveness check.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ok := true
	var b strings.Builder
	for _, p := range d.storageStates(ctx) {
		ok = ok && p.state == "ok"
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	io.WriteString(w, b.String())
}

// watchStorage logs a warning when a storage part turns degraded (low or
// no free space, store down) and a notice when it recovers: at start, then
// every interval until the returned stop is called.
func (d *Daemon) watchStorage(interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		was := map[string]string{}
		for {
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			for _, p := range d.storageStates(cctx) {
				// The kind of trouble ("low free space", "no space
				// left", "not answering"), not the changing numbers.
				kind := ""
				if p.state != "ok" {
					kind, _, _ = strings.Cut(p.reason, ":")
				}
				switch {
				case kind != "" && kind != was[p.name]:
					d.Log.Warn("storage degraded: "+kind, "part", p.name, "state", p.state, "reason", p.reason,
						"free_mb", p.freeMB, "dir", p.dir)
				case kind == "" && was[p.name] != "":
					d.Log.Info("storage recovered", "part", p.name, "free_mb", p.freeMB, "dir", p.dir)
				}
				was[p.name] = kind
			}
			ccancel()
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}
