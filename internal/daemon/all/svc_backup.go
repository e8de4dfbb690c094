package all

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/backup"
)

func init() {
	daemon.Register("backup", func(d *daemon.Deps) (netsvc.Handler, func(), error) {
		cfg := d.Config.Services.Backup
		dir, err := d.Dir()
		if err != nil {
			return nil, nil, err
		}
		key, err := backup.LoadOrCreateMasterKey(filepath.Join(dir, "master.key"))
		if err != nil {
			return nil, nil, err
		}
		if err := d.PinKey(context.Background(), "backup/master.key", daemon.Fingerprint("gatehouse backup master key", key)); err != nil {
			return nil, nil, err
		}
		if cfg.TestCRCOffByOne {
			d.Log.Warn("test_crc_off_by_one is on: every upload will be reported with a wrong CRC and fail")
		}
		if cfg.AllowKeyReplace {
			d.Log.Warn("allow_key_replace is on: anyone who knows a client id can replace its key")
		}
		srv, err := backup.New(d.Store, d.Blob, key, backup.Options{
			MaxFileSize:         cfg.MaxFileSize,
			MinUploadRate:       cfg.MinUploadRate,
			EncryptAtRest:       cfg.EncryptAtRest,
			AllowKeyReplace:     cfg.AllowKeyReplace,
			PaddingFailureLimit: cfg.PaddingFailureLimit,
			CRCOffByOne:         cfg.TestCRCOffByOne,
			RegisterRate:        registerRate(cfg.RegisterRate),
			RegisterBurst:       cfg.RegisterBurst,
		})
		if err != nil {
			return nil, nil, err
		}
		d.Commands, d.RateLimited = backup.MetricCommands(), backup.RateLimitedWhat
		d.Log.Info("backup service ready", "max_file_size", cfg.MaxFileSize, "encrypt_at_rest", cfg.EncryptAtRest)
		stopSweep := sweepOrphans(d, srv)
		if d.ListenFromConfig || !cfg.PortInfo {
			return srv, stopSweep, nil
		}
		// The original read its port from port.info (fallback 1357); an
		// explicit services.backup.listen wins over it.
		port, from, found, err := backup.FindPortInfo(filepath.Join(d.Config.DataDir, "port.info"), "port.info")
		switch {
		case !found:
		case err != nil:
			d.Log.Warn("port.info unusable; using the default port", "file", from, "err", err, "port", cfg.DefaultPort())
		default:
			d.Listen = net.JoinHostPort(d.Config.Host, strconv.Itoa(port))
			d.Log.Info("port taken from port.info", "file", from, "port", port)
		}
		return srv, stopSweep, nil
	})
}

// registerRate maps the config's 0 (no limit) to the Options' negative.
func registerRate(r float64) float64 {
	if r == 0 {
		return -1
	}
	return r
}

// sweepOrphans removes unreferenced upload blobs at start-up and then every
// hour, until the returned stop is called.
func sweepOrphans(d *daemon.Deps, srv *backup.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			n, err := srv.SweepOrphans(ctx, backup.OrphanMinAge)
			if err != nil && ctx.Err() == nil {
				d.Log.Warn("sweeping orphaned upload blobs", "err", err)
			}
			if n > 0 {
				d.Log.Info("removed orphaned upload blobs", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Hour):
			}
		}
	}()
	return func() { cancel(); <-done }
}
