// Package daemon assembles Gatehouse: logger, store, blobs, metrics, the
// admin HTTP listener and every enabled service on netsvc.
package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/internal/blob"
	"gatehouse/internal/buildinfo"
	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/services"
	"gatehouse/internal/store"
	"gatehouse/internal/svckit"
	"gatehouse/internal/tlsutil"
)

// Daemon is a running Gatehouse.
type Daemon struct {
	cfg      *config.Config
	Log      *slog.Logger
	Store    *store.DB
	Blob     blob.Store
	Server   *netsvc.Server
	Registry *prometheus.Registry
	admin    *http.Server
	adminLn  net.Listener
	cleanups []func()
	tlsCerts map[string]*tlsutil.Cert // by cert + key file, reloaded by Reload
	reload   []namedReloader          // handlers with a Reload, called by Reload
}

type namedReloader struct {
	name string
	r    svckit.Reloader
}

// OpenStore opens the metadata store the config names (used by admin
// commands too).
func OpenStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	dsn := cfg.Store.DSN
	if dsn == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, err
		}
		dsn = filepath.Join(cfg.DataDir, "gatehouse.db")
	}
	return store.Open(ctx, dsn)
}

// OpenBlob opens the blob store the config names.
func OpenBlob(ctx context.Context, cfg *config.Config) (blob.Store, error) {
	u := cfg.Blob.URL
	switch {
	case u == "":
		return blob.OpenLocal(filepath.Join(cfg.DataDir, "blobs"))
	case strings.HasPrefix(u, "file://"):
		return blob.OpenLocal(strings.TrimPrefix(u, "file://"))
	case strings.HasPrefix(u, "s3://"):
		// The endpoint and credentials come from GATEHOUSE_S3_* so they
		// stay out of config files.
		return blob.OpenS3(ctx, u, blob.S3OptionsFromEnv())
	}
	return nil, fmt.Errorf("blob.url: unsupported %q (want empty, file://DIR or s3://bucket/prefix)", u)
}

// Start opens everything and starts the listeners of every enabled service
// of the list (services.All). Nothing is left running when it returns an
// error.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	return StartList(ctx, cfg, log, services.All)
}

// StartList is Start with another services list (a test's, with a service
// of its own added).
func StartList(ctx context.Context, cfg *config.Config, log *slog.Logger, list []services.Service) (d *Daemon, err error) {
	if err := services.ValidateList(cfg, list); err != nil {
		return nil, err
	}
	return startList(ctx, cfg, log, list)
}

func startList(ctx context.Context, cfg *config.Config, log *slog.Logger, list []services.Service) (d *Daemon, err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	d = &Daemon{cfg: cfg, Log: log, Registry: prometheus.NewRegistry()}
	cleanupOnErr := d // d itself is nil on the error returns
	defer func() {
		if err != nil {
			cleanupOnErr.closeResources()
		}
	}()
	d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector(buildinfo.Current()))
	if d.Store, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	if d.Blob, err = OpenBlob(ctx, cfg); err != nil {
		return nil, err
	}
	d.cleanups = append(d.cleanups, d.watchStorage(storageCheckInterval))
	d.Server = netsvc.New(log, netsvc.NewMetrics(d.Registry))
	var svcs []netsvc.Service
	for _, sp := range list {
		sc := *sp.Common(cfg)
		if !sc.Enabled {
			continue
		}
		deps := &svckit.Deps{Name: sp.Name, DataDir: cfg.DataDir, Host: cfg.Host, Store: d.Store,
			Blob: blob.Prefixed(d.Blob, sp.Name), BlobShared: cfg.Blob.URL != "", Log: log.With("service", sp.Name), Registry: d.Registry,
			Listen: sp.ListenAddr(cfg), ListenFromConfig: sc.Listen != ""}
		h, err := sp.Build(cfg, deps)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", sp.Name, err)
		}
		d.adopt(sp.Name, h)
		var tlsCfg *tls.Config
		if sc.TLSListen != "" {
			if tlsCfg, err = d.serviceTLS(sp.Name, sc); err != nil {
				return nil, fmt.Errorf("service %s: %w", sp.Name, err)
			}
		}
		primary := netsvc.Service{
			Name: sp.Name, Addr: deps.Listen, Handler: h,
			TLSAddr: sc.TLSListen, TLSConfig: tlsCfg,
			Commands: deps.Commands, RateLimited: deps.RateLimited,
			Limits: netsvc.Limits{
				MaxConns:         sc.MaxConns,
				MaxConnsPerIP:    sc.MaxConnsPerIP,
				IdleTimeout:      sc.IdleTimeout,
				WriteTimeout:     sc.WriteTimeout,
				HandshakeTimeout: sc.HandshakeTimeout,
				MessageTimeout:   sc.MessageTimeout,
				MinRate:          sc.MinRate,
				RateGrace:        sc.RateGrace,
			},
		}
		if !deps.NoListen {
			svcs = append(svcs, primary)
		}
		for _, x := range deps.Extra {
			x.Limits, x.Commands, x.RateLimited = primary.Limits, primary.Commands, primary.RateLimited
			svcs = append(svcs, x)
		}
	}
	if cfg.Admin.Enabled {
		if d.adminLn, err = net.Listen("tcp", cfg.AdminAddr()); err != nil {
			return nil, fmt.Errorf("admin HTTP cannot listen on %s: %w", cfg.AdminAddr(), err)
		}
	}
	if err = d.Server.Listen(svcs...); err != nil {
		return nil, err
	}
	d.Server.Start()
	if d.adminLn != nil {
		d.admin = &http.Server{Handler: d.adminMux(), ReadHeaderTimeout: 5 * time.Second}
		log.Info("admin listening", "addr", d.adminLn.Addr().String(), "paths", "/healthz /readyz /metrics /connz", "pprof", cfg.Admin.Pprof)
		go d.admin.Serve(d.adminLn)
	}
	return d, nil
}

// adopt runs what a service's handler offers beyond ServeConn: its
// background work (svckit.Runner) from now until the resources are
// released, then its release (io.Closer), both after the drain; and its
// svckit.Reloader on every Reload.
func (d *Daemon) adopt(name string, h netsvc.Handler) {
	if r, ok := h.(svckit.Reloader); ok {
		d.reload = append(d.reload, namedReloader{name, r})
	}
	// cleanups run last first: the Runner stops, then the Closer closes.
	if c, ok := h.(io.Closer); ok {
		d.cleanups = append(d.cleanups, func() {
			if err := c.Close(); err != nil {
				d.Log.Warn("closing the service", "service", name, "err", err)
			}
		})
	}
	if r, ok := h.(svckit.Runner); ok {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				d.Log.Error("background work ended", "service", name, "err", err)
			}
		}()
		d.cleanups = append(d.cleanups, func() { cancel(); <-done })
	}
}

// AdminAddr is the admin listener's bound address (nil when disabled).
func (d *Daemon) AdminAddr() net.Addr {
	if d.adminLn == nil {
		return nil
	}
	return d.adminLn.Addr()
}

func (d *Daemon) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry}))
	mux.HandleFunc("/readyz", d.readyz)
	mux.HandleFunc("/connz", func(w http.ResponseWriter, r *http.Request) {
		conns := d.Server.Conns()
		if conns == nil {
			conns = []netsvc.ConnInfo{} // "connections": [], not null
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Now   time.Time         `json:"now"`
			Count int               `json:"count"`
			Conns []netsvc.ConnInfo `json:"connections"`
		}{time.Now().UTC(), len(conns), conns})
	})
	if d.cfg.Admin.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		h := d.Server.Healthy()
		names := make([]string, 0, len(h))
		for n := range h {
			names = append(names, n)
		}
		sort.Strings(names)
		ok := true
		var b strings.Builder
		for _, n := range names {
			state := "ok"
			if !h[n] {
				state, ok = "down", false
			}
			fmt.Fprintf(&b, "%s %s\n", n, state)
		}
		if err := d.Store.PingContext(r.Context()); err != nil {
			ok = false
			fmt.Fprintf(&b, "store down\n")
		}
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, b.String())
	})
	return mux
}

// Shutdown drains the services for at most the config's drain timeout, then
// closes everything.
func (d *Daemon) Shutdown() error {
	d.Log.Info("shutting down: draining connections", "drain_timeout", d.cfg.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.DrainTimeout)
	defer cancel()
	err := d.Server.Shutdown(ctx)
	if d.admin != nil {
		d.admin.Shutdown(ctx)
	}
	d.closeResources()
	d.Log.Info("stopped")
	return err
}

func (d *Daemon) closeResources() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
	if d.adminLn != nil && d.admin == nil {
		d.adminLn.Close()
	}
	if d.Blob != nil {
		d.Blob.Close()
	}
	if d.Store != nil {
		d.Store.Close()
	}
}
