package services

import (
	"fmt"
	"gatehouse/internal/blob"
	"gatehouse/internal/config"
	"path/filepath"

	"gatehouse/internal/crypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/svckit"
)

func buildCloudreport(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
	cfg := c.Services.Cloudreport
	dialect, err := cloudreport.ParseDialect(cfg.Dialect)
	if err != nil {
		return nil, err
	}
	registration, err := cloudreport.ParseRegistration(cfg.Registration)
	if err != nil {
		return nil, err
	}
	hash, err := crypto.ParseHash(cfg.DelphiHash)
	if err != nil {
		return nil, err
	}
	if _, err := d.Dir(); err != nil {
		return nil, err
	}
	ustore, where, err := CloudreportUpdateStore(c, d.Blob)
	if err != nil {
		return nil, err
	}
	updates := cloudreport.BlobUpdates(ustore)
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
		Updates:                updates,
		UpdateVersion:          cfg.UpdateVersion,
		UpdateBuild:            cfg.UpdateBuild,
		CompatInitDuplicate:    cfg.CompatInitDuplicate,
		Registration:           registration,
		FirstSeenRate:          cfg.FirstSeenRate,
		FirstSeenBurst:         cfg.FirstSeenBurst,
		SeenFlushInterval:      cfg.SeenFlushInterval,
		DownloadMinRate:        cfg.DownloadMinRate,
		Metrics:                d.Registry,
		Log:                    d.Log,
	})
	if err != nil {
		return nil, err
	}
	if dialect == cloudreport.Delphi {
		d.Log.Warn("cloudreport runs the experimental delphi dialect; see docs/cloudreport.md for what is verified")
	}
	// The names cloudreport's session passes to Conn.Request (its
	// metricName). A rate limit it adds names its "what" in
	// d.RateLimited.
	d.Commands = []string{"INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP", "UNKNOWN"}
	d.RateLimited = []string{"first_seen"}
	d.Log.Info("cloudreport updates", "source", where)
	d.Log.Info("cloudreport registration", "mode", registration.String())
	if ustore == d.Blob {
		return srv, nil
	}
	return cloudreportWithFolder{srv, ustore}, nil
}

// cloudreportWithFolder is the server with the update folder's own store,
// which it closes after the server.
type cloudreportWithFolder struct {
	*cloudreport.Server
	folder blob.Store
}

func (c cloudreportWithFolder) Close() error {
	err := c.Server.Close()
	c.folder.Close()
	return err
}

// CloudreportUpdateStore is the store the cloudreport update files live in,
// as "updates/<name>": with updates = "blob" (or "auto" and a blob.url) the
// service's part of the shared blob store svcBlob (every daemon serves what
// is published once), with "folder" a local store on <data>/cloudreport
// (files dropped into <data>/cloudreport/updates by hand are served too).
// The daemon and 'gatehouse admin cloudreport publish' both use it.
func CloudreportUpdateStore(cfg *config.Config, svcBlob blob.Store) (blob.Store, string, error) {
	mode := cfg.Services.Cloudreport.Updates
	if mode == "auto" {
		mode = "folder"
		if cfg.Blob.URL != "" {
			mode = "blob"
		}
	}
	switch mode {
	case "folder":
		dir := filepath.Join(cfg.DataDir, "cloudreport")
		l, err := blob.OpenLocal(dir)
		return l, filepath.Join(dir, "updates"), err
	case "blob":
		return svcBlob, "blob store, cloudreport/" + cloudreport.UpdatesPrefix, nil
	}
	return nil, "", fmt.Errorf("cloudreport: updates = %q: want auto, folder or blob", mode)
}
