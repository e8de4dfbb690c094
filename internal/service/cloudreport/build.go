package cloudreport

import (
	"fmt"
	"path/filepath"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

// Build is the daemon's entry (internal/services): the server for the
// [services.cloudreport] section cfg.
func Build(cfg Config, d *svckit.Deps) (netsvc.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := d.Dir(); err != nil {
		return nil, err
	}
	ustore, where, err := UpdateStore(cfg.Updates, d.DataDir, d.BlobShared, d.Blob)
	if err != nil {
		return nil, err
	}
	srv, err := New(cfg, Env{Registry: d.Store, Updates: BlobUpdates(ustore), Log: d.Log, Metrics: d.Registry})
	if err != nil {
		return nil, err
	}
	if srv.dialect == Delphi {
		d.Log.Warn("cloudreport runs the experimental delphi dialect; see docs/md for what is verified")
	}
	// The names cloudreport's session passes to Conn.Request (its
	// metricName). A rate limit it adds names its "what" in
	// d.RateLimited.
	d.Commands = []string{"INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP", "UNKNOWN"}
	d.RateLimited = []string{"first_seen"}
	d.Log.Info("cloudreport updates", "source", where)
	d.Log.Info("cloudreport registration", "mode", srv.registration.String())
	if ustore == d.Blob {
		return srv, nil
	}
	return withFolder{srv, ustore}, nil
}

// withFolder is the server with the update folder's own store,
// which it closes after the server.
type withFolder struct {
	*Server
	folder blob.Store
}

func (c withFolder) Close() error {
	err := c.Server.Close()
	c.folder.Close()
	return err
}

// UpdateStore is the store the cloudreport update files live in,
// as "updates/<name>": with mode (the updates key) "blob" (or "auto" and
// blobShared: blob.url is set) the
// service's part of the shared blob store svcBlob (every daemon serves what
// is published once), with "folder" a local store on <data>/cloudreport
// (files dropped into <data>/cloudreport/updates by hand are served too).
// The daemon and 'gatehouse admin cloudreport publish' both use it.
func UpdateStore(mode, dataDir string, blobShared bool, svcBlob blob.Store) (blob.Store, string, error) {
	if mode == "auto" {
		mode = "folder"
		if blobShared {
			mode = "blob"
		}
	}
	switch mode {
	case "folder":
		dir := filepath.Join(dataDir, "cloudreport")
		l, err := blob.OpenLocal(dir)
		return l, filepath.Join(dir, "updates"), err
	case "blob":
		return svcBlob, "blob store, cloudreport/" + UpdatesPrefix, nil
	}
	return nil, "", fmt.Errorf("cloudreport: updates = %q: want auto, folder or blob", mode)
}

// The daemon's SIGHUP drops the registry cache through Reload.
var _ svckit.Reloader = withFolder{}
