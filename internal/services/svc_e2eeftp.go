package services

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"gatehouse/internal/config"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/svckit"
)

func buildE2EEFTP(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
	cfg := c.Services.E2EEFTP
	dir, err := d.Dir()
	if err != nil {
		return nil, err
	}
	kd := e2eeftp.KeyDir(dir)
	id, created, insecure, err := kd.LoadOrInit()
	if err != nil {
		return nil, err
	}
	if created {
		d.Log.Warn("created a new server identity; give known_server.pub to the clients",
			"key_file", kd.ServerKey(), "public", kd.KnownServer())
	}
	pub := id.Public().(ed25519.PublicKey)
	if err := d.PinKey(context.Background(), "e2eeftp/server_id", svckit.Fingerprint("gatehouse e2eeftp server identity", pub)); err != nil {
		return nil, err
	}
	if insecure {
		d.Log.Warn("server_id.key is readable or writable by group or others; chmod 600 it", "key_file", kd.ServerKey())
	}
	// The store holds the authorized clients every daemon sharing it
	// serves; authorized_clients.pub is imported into it (see
	// e2eeftp.SharedKeys for the rules).
	file := e2eeftp.NewAuthorizedKeys(kd.Authorized(), d.Log.Warn)
	auth, err := e2eeftp.NewSharedKeys(context.Background(), d.Store, file, e2eeftp.DefaultKeyRefresh, d.Log.Warn)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: loading the authorized clients: %w", err)
	}
	if auth.Len() == 0 {
		d.Log.Warn("no authorized e2eeftp clients: no client can connect; run 'gatehouse keys e2eeftp add-client'",
			"path", kd.Authorized())
	}
	replay := cfg.ReplayCacheSize
	if replay <= 0 {
		replay = -1
		d.Log.Warn("replay_cache_size is 0: recorded client hellos can be replayed")
	}
	// Shorter windows would let clock skew between daemons sharing the
	// store, or a slow prune, matter; see replay.go for what it buys.
	if cfg.ReplayWindow < time.Hour {
		return nil, fmt.Errorf("e2eeftp: replay_window %v is below the 1h minimum", cfg.ReplayWindow)
	}
	srv := e2eeftp.NewServer(id, auth, d.Blob, e2eeftp.Options{
		MaxFileSize:         cfg.MaxFileSize,
		PerClientFolders:    cfg.PerClientFolders,
		DisableDelete:       !cfg.AllowDelete,
		ReplayCacheSize:     replay,
		ReplayStore:         d.Store,
		ReplayWindow:        cfg.ReplayWindow,
		ReplayPruneInterval: cfg.ReplayPruneInterval,
		Log:                 d.Log,
	})
	// Left by an older version; the store's log replaces it.
	if err := os.Remove(filepath.Join(dir, "replay.cache")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.Log.Warn("removing the obsolete replay.cache failed", "err", err)
	}
	d.Commands = append(srv.Commands(), "INVALID")
	d.Log.Info("e2eeftp service ready", "keys", dir, "authorized_clients", auth.Len(),
		"per_client_folders", cfg.PerClientFolders, "max_file_size", cfg.MaxFileSize)
	return srv, nil
}
