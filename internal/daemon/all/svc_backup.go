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
		})
		if err != nil {
			return nil, nil, err
		}
		d.Log.Info("backup service ready", "max_file_size", cfg.MaxFileSize, "encrypt_at_rest", cfg.EncryptAtRest)
		if cfg.Listen != "" || !cfg.PortInfo {
			return srv, nil, nil
		}
		// The original read its port from port.info. The daemon has already
		// chosen this service's address (the default port) before calling
		// here, so the port.info port gets a listener of its own.
		port, from, found, err := backup.FindPortInfo(filepath.Join(d.Config.DataDir, "port.info"), "port.info")
		switch {
		case !found:
			return srv, nil, nil
		case err != nil:
			d.Log.Warn("port.info unusable; serving only the default port", "file", from, "err", err, "port", cfg.DefaultPort())
			return srv, nil, nil
		case port == cfg.DefaultPort():
			return srv, nil, nil
		}
		addr := net.JoinHostPort(d.Config.Host, strconv.Itoa(port))
		bound, stop, err := backup.ServeExtra(d.Log, srv, addr, netsvc.Limits{
			MaxConns: cfg.MaxConns, IdleTimeout: cfg.IdleTimeout.Duration,
			WriteTimeout: cfg.WriteTimeout.Duration, HandshakeTimeout: cfg.HandshakeTimeout.Duration,
		})
		if err != nil {
			return nil, nil, err
		}
		d.Log.Info("backup also listening on the port.info port", "file", from, "addr", bound)
		return srv, func() {
			ctx, cancel := context.WithTimeout(context.Background(), d.Config.DrainTimeout.Duration+time.Second)
			defer cancel()
			stop(ctx)
		}, nil
	})
}
