package all

import (
	"path/filepath"

	"gatehouse/internal/crypto"
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/cloudreport"
)

func init() {
	daemon.Register("cloudreport", func(d *daemon.Deps) (netsvc.Handler, func(), error) {
		cfg := d.Config.Services.Cloudreport
		dialect, err := cloudreport.ParseDialect(cfg.Dialect)
		if err != nil {
			return nil, nil, err
		}
		registration, err := cloudreport.ParseRegistration(cfg.Registration)
		if err != nil {
			return nil, nil, err
		}
		hash, err := crypto.ParseHash(cfg.DelphiHash)
		if err != nil {
			return nil, nil, err
		}
		dir, err := d.Dir()
		if err != nil {
			return nil, nil, err
		}
		srv, err := cloudreport.NewServer(d.Store, cloudreport.Options{
			Dialect:                dialect,
			ServerKey:              cfg.ServerKey,
			DelphiHash:             hash,
			DelphiZlib:             cfg.DelphiZlib,
			MaxLine:                cfg.MaxLine,
			MaxInflate:             cfg.MaxInflate,
			MaxAuthFailures:        cfg.MaxAuthFailures,
			MaxErrorReports:        cfg.MaxErrorReports,
			MaxStoredReports:       cfg.MaxStoredReports,
			MaxDownload:            cfg.MaxDownload,
			MaxConcurrentDownloads: cfg.MaxConcurrentDownloads,
			UpdatesDir:             filepath.Join(dir, "updates"),
			UpdateVersion:          cfg.UpdateVersion,
			UpdateBuild:            cfg.UpdateBuild,
			CompatInitDuplicate:    cfg.CompatInitDuplicate,
			Registration:           registration,
			FirstSeenRate:          cfg.FirstSeenRate,
			FirstSeenBurst:         cfg.FirstSeenBurst,
			SeenFlushInterval:      cfg.SeenFlushInterval.Duration,
			DownloadMinRate:        cfg.DownloadMinRate,
			Metrics:                d.Registry,
			Log:                    d.Log,
		})
		if err != nil {
			return nil, nil, err
		}
		if dialect == cloudreport.Delphi {
			d.Log.Warn("cloudreport runs the experimental delphi dialect; see docs/cloudreport.md for what is verified")
		}
		// The names cloudreport's session passes to Conn.Request (its
		// metricName). A rate limit it adds names its "what" in
		// d.RateLimited.
		d.Commands = []string{"INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP", "UNKNOWN"}
		d.RateLimited = []string{"first_seen"}
		d.Log.Info("cloudreport updates folder", "path", filepath.Join(dir, "updates"))
		d.Log.Info("cloudreport registration", "mode", registration.String())
		return srv, func() { srv.Close() }, nil
	})
}
