package backup

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

// DefaultPort is the original's port, and its fallback when port.info is
// unusable.
const DefaultPort = 1357

// Build is the daemon's entry (internal/services): the server for the
// [services.backup] section cfg.
func Build(cfg Config, d *svckit.Deps) (netsvc.Handler, error) {
	dir, err := d.Dir()
	if err != nil {
		return nil, err
	}
	key, err := LoadOrCreateMasterKey(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, err
	}
	if err := d.PinKey(context.Background(), "backup/master.key", svckit.Fingerprint("gatehouse backup master key", key)); err != nil {
		return nil, err
	}
	if cfg.TestCRCOffByOne {
		d.Log.Warn("test_crc_off_by_one is on: every upload will be reported with a wrong CRC and fail")
	}
	if cfg.AllowKeyReplace {
		d.Log.Warn("allow_key_replace is on: anyone who knows a client id can replace its key")
	}
	srv, err := New(cfg, Env{Store: d.Store, Blobs: d.Blob, MasterKey: key, Log: d.Log})
	if err != nil {
		return nil, err
	}
	d.Commands, d.RateLimited = MetricCommands(), RateLimitedWhat
	d.Log.Info("backup service ready", "max_file_size", cfg.MaxFileSize, "encrypt_at_rest", cfg.EncryptAtRest,
		"keep_versions", cfg.KeepVersions, "keep_days", cfg.KeepDays)
	if err := registerUsageMetrics(d, srv); err != nil {
		return nil, err
	}
	if d.ListenFromConfig || !cfg.PortInfo {
		return srv, nil
	}
	// The original read its port from port.info (fallback 1357); an
	// explicit services.listen wins over it.
	port, from, found, err := FindPortInfo(filepath.Join(d.DataDir, "port.info"), "port.info")
	switch {
	case !found:
	case err != nil:
		d.Log.Warn("port.info unusable; using the default port", "file", from, "err", err, "port", DefaultPort)
	default:
		d.Listen = net.JoinHostPort(d.Host, strconv.Itoa(port))
		d.Log.Info("port taken from port.info", "file", from, "port", port)
	}
	return srv, nil
}

// usageCacheTTL bounds how often a scrape queries the store for the usage
// gauges.
const usageCacheTTL = time.Minute

// registerUsageMetrics exports what every client's backups take together,
// as read from the shared store (so every daemon reports the same totals):
// two gauges, no per-client labels. A scrape queries the store at most once
// a minute; a failed query keeps the last values.
func registerUsageMetrics(d *svckit.Deps, srv *Server) error {
	var mu sync.Mutex
	var at time.Time
	var versions, bytes int64
	refresh := func() {
		mu.Lock()
		defer mu.Unlock()
		if age := srv.cfg.Now().Sub(at); !at.IsZero() && age >= 0 && age < usageCacheTTL {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, b, err := srv.UsageTotals(ctx)
		if err != nil {
			d.Log.Warn("backup usage metrics", "err", err)
			return
		}
		versions, bytes, at = v, b, srv.cfg.Now()
	}
	for _, g := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_backup_stored_bytes",
			Help: "Bytes the backup service keeps in the blob store (versions and uploads awaiting their 1029), all clients."},
			func() float64 { refresh(); mu.Lock(); defer mu.Unlock(); return float64(bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_backup_versions",
			Help: "Verified file versions the backup service keeps, all clients."},
			func() float64 { refresh(); mu.Lock(); defer mu.Unlock(); return float64(versions) }),
	} {
		if d.Registry == nil {
			break
		}
		if err := d.Registry.Register(g); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}
