package e2eeftp

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

// Store is what the service keeps in the shared metadata store: the
// authorized clients and the replay log.
type Store interface {
	ClientRegistry
	ReplayLog
}

// ReplayLog is the shared log of accepted client ephemeral keys.
type ReplayLog interface {
	E2EEFTPReplayRecord(ctx context.Context, eph []byte, now time.Time) (fresh bool, err error)
	E2EEFTPReplayPrune(ctx context.Context, cutoff time.Time) (int64, error)
}

// Build is the daemon's entry (internal/services): the server for the
// [services.e2eeftp] section cfg.
func Build(cfg Config, d *svckit.Deps) (netsvc.Handler, error) {
	var st Store = d.Store
	if err := cfg.Validate(); err != nil {
		return nil, err // before any key file is written
	}
	dir, err := d.Dir()
	if err != nil {
		return nil, err
	}
	kd := KeyDir(dir)
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
	// SharedKeys for the rules).
	file := NewAuthorizedKeys(kd.Authorized(), d.Log.Warn)
	auth, err := NewSharedKeys(context.Background(), st, file, DefaultKeyRefresh, d.Log.Warn)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: loading the authorized clients: %w", err)
	}
	if auth.Len() == 0 {
		d.Log.Warn("no authorized e2eeftp clients: no client can connect; run 'gatehouse keys e2eeftp add-client'",
			"path", kd.Authorized())
	}
	if cfg.ReplayCacheSize <= 0 {
		d.Log.Warn("replay_cache_size is 0: recorded client hellos can be replayed")
	}
	srv, err := New(cfg, Env{Identity: id, Keys: auth, Blob: d.Blob, BlobShared: d.BlobShared, Replay: st, Log: d.Log})
	if err != nil {
		return nil, err
	}
	// Left by an older version; the store's log replaces it.
	if err := os.Remove(filepath.Join(dir, "replay.cache")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.Log.Warn("removing the obsolete replay.cache failed", "err", err)
	}
	d.Commands = append([]string(nil), requestNames...)
	d.Log.Info("e2eeftp service ready", "keys", dir, "authorized_clients", auth.Len(),
		"per_client_folders", cfg.PerClientFolders, "max_file_size", cfg.MaxFileSize)
	return srv, nil
}
