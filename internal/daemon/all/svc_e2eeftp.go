package all

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"gatehouse/internal/daemon"
	"gatehouse/internal/fsutil"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/e2eeftp"
)

func init() {
	daemon.Register("e2eeftp", func(d *daemon.Deps) (netsvc.Handler, func(), error) {
		cfg := d.Config.Services.E2EEFTP
		dir, err := d.Dir()
		if err != nil {
			return nil, nil, err
		}
		kd := e2eeftp.KeyDir(dir)
		id, created, insecure, err := kd.LoadOrInit()
		if err != nil {
			return nil, nil, err
		}
		if created {
			d.Log.Warn("created a new server identity; give known_server.pub to the clients",
				"key_file", kd.ServerKey(), "public", kd.KnownServer())
		}
		if insecure {
			d.Log.Warn("server_id.key is readable or writable by group or others; chmod 600 it", "key_file", kd.ServerKey())
		}
		auth := e2eeftp.NewAuthorizedKeys(kd.Authorized(), d.Log.Warn)
		if _, err := os.Stat(kd.Authorized()); errors.Is(err, fs.ErrNotExist) {
			d.Log.Warn("no authorized_clients.pub: no client can connect; run 'gatehouse keys e2eeftp add-client'",
				"path", kd.Authorized())
		}
		replay := cfg.ReplayCacheSize
		if replay <= 0 {
			replay = -1
			d.Log.Warn("replay_cache_size is 0: recorded client hellos can be replayed")
		}
		srv := e2eeftp.NewServer(id, auth, d.Blob, e2eeftp.Options{
			MaxFileSize:      cfg.MaxFileSize,
			PerClientFolders: cfg.PerClientFolders,
			DisableDelete:    !cfg.AllowDelete,
			ReplayCacheSize:  replay,
			Log:              d.Log,
		})
		// The replay cache outlives a restart; a crash loses only the
		// hellos seen since the last clean stop.
		statePath := filepath.Join(dir, "replay.cache")
		if b, err := os.ReadFile(statePath); err == nil {
			srv.LoadReplayState(b)
		}
		cleanup := func() {
			if err := fsutil.WriteFileAtomic(statePath, srv.ReplayState(), 0o600); err != nil {
				d.Log.Warn("saving the replay cache failed", "err", err)
			}
		}
		d.Log.Info("e2eeftp service ready", "keys", dir, "authorized_clients", auth.Len(),
			"per_client_folders", cfg.PerClientFolders, "max_file_size", cfg.MaxFileSize)
		return srv, cleanup, nil
	})
}
