package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/store"
)

// dataFlags are the flags of every admin and keys command: the config
// flags serve has (found the same way: --config, $GATEHOUSE_CONFIG,
// ./gatehouse.toml, /etc/gatehouse/gatehouse.toml; --host hidden), --init
// and --quiet.
// These commands work on the daemon's data directory and store: they say
// which one they use, and never create an empty one unless --init asks
// for it (a mistyped path would otherwise leave a store the daemon never
// reads, or a second server identity).
type dataFlags struct {
	e     *env
	fs    *pflag.FlagSet
	load  func() (*config.Config, error)
	init  *bool
	quiet *bool
}

func newDataFlags(e *env, fs *pflag.FlagSet) *dataFlags {
	d := &dataFlags{e: e, fs: fs, load: configFlags(e, fs)}
	// --host is where the daemon's listeners bind: it means nothing to a
	// command that reads the data directory (still accepted, for scripts
	// that pass serve's flags along, but not listed).
	fs.MarkHidden("host")
	d.init = fs.Bool("init", false, "create the data directory and the store if they do not exist yet")
	d.quiet = fs.BoolP("quiet", "q", false, "do not print which data directory is used")
	return d
}

// config loads the configuration, prints the data directory it names on
// stderr and, without --init, checks that the directory exists.
func (d *dataFlags) config() (*config.Config, error) {
	return d.configMay(*d.init)
}

// configMay is config where create says whether a missing directory is
// fine (the init commands create it).
func (d *dataFlags) configMay(create bool) (*config.Config, error) {
	cfg, err := d.load()
	if err != nil {
		return nil, err
	}
	// One spelling of the directory in everything the command prints (the
	// line below, the refusals, the paths of what it creates).
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	if !*d.quiet {
		from := "no config file"
		if p := config.FindEnv(d.fs.Lookup("config").Value.String(), d.e.getenv); p != "" {
			from = "config " + p
		}
		fmt.Fprintf(d.e.stderr, "gatehouse: data directory %s (%s)\n", cfg.DataDir, from)
	}
	if create {
		return cfg, nil
	}
	st, err := os.Stat(cfg.DataDir)
	if err == nil && !st.IsDir() {
		return nil, fmt.Errorf("data directory %s is not a directory", cfg.DataDir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingData("data directory "+cfg.DataDir+" does not exist", "create it")
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

func missingData(what, init string) error {
	return fmt.Errorf("%s: point --data or --config (or GATEHOUSE_CONFIG) at the daemon's, or pass --init to %s", what, init)
}

// openStore is config, then opens the daemon's store; without --init a
// SQLite store must exist already (a PostgreSQL store is the database the
// DSN names).
func (d *dataFlags) openStore(ctx context.Context) (*store.DB, *config.Config, error) {
	cfg, err := d.config()
	if err != nil {
		return nil, nil, err
	}
	db, err := openStoreMay(ctx, cfg, *d.init)
	return db, cfg, err
}

func openStoreMay(ctx context.Context, cfg *config.Config, create bool) (*store.DB, error) {
	if !create {
		if err := storeExists(cfg); err != nil {
			return nil, err
		}
	}
	return daemon.OpenStore(ctx, cfg)
}

// storeExists checks that a SQLite store is where the configuration says:
// a data directory without one is not the daemon's.
func storeExists(cfg *config.Config) error {
	if path := sqlitePath(cfg); path != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return missingData("no store at "+path+" (the daemon creates it on its first start)", "create an empty one")
		}
	}
	return nil
}

// sqlitePath is the SQLite file the configuration's store is, "" for
// PostgreSQL.
func sqlitePath(cfg *config.Config) string {
	dsn := cfg.Store.DSN
	switch {
	case dsn == "":
		return filepath.Join(cfg.DataDir, "gatehouse.db")
	case strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://"):
		return ""
	}
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
	return path
}
