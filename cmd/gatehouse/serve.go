package main

import (
	"context"
	"fmt"
	"gatehouse/internal/services"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"gatehouse/internal/buildinfo"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/logging"
	"gatehouse/internal/sdnotify"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// setFlags collects repeated -set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }
func (s *setFlags) Type() string       { return "key=value" }

// configFlags registers the flags every command that reads the config has,
// and returns a loader that applies them last (defaults < file < env < flags).
func configFlags(e *env, fs *pflag.FlagSet) func() (*config.Config, error) {
	path := fs.String("config", "", "TOML config file (default: $GATEHOUSE_CONFIG, ./gatehouse.toml, /etc/gatehouse/gatehouse.toml, the first that exists)")
	data := fs.String("data", "", "data directory (default ./gatehouse-data)")
	host := fs.String("host", "", "address every default listener binds (default 127.0.0.1; 0.0.0.0 for all interfaces)")
	var sets setFlags
	fs.Var(&sets, "set", "set any config key, e.g. --set services.clock.max_conns=64 (repeatable)")
	return func() (*config.Config, error) {
		cfg, err := config.LoadEnviron(config.FindEnv(*path, e.getenv), e.environ())
		if err != nil {
			return nil, err
		}
		if *data != "" {
			cfg.DataDir = *data
		}
		if *host != "" {
			cfg.Host = *host
		}
		for _, kv := range sets {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("--set %q: want key=value", kv)
			}
			if err := cfg.Set(k, v); err != nil {
				return nil, fmt.Errorf("--set: %w", err)
			}
		}
		return cfg, services.Validate(cfg)
	}
}

func serveCmd(e *env) *cobra.Command {
	c := newCmd("serve", "run the daemon", "gatehouse serve [--config FILE] [--data DIR] [--host ADDR] [--set key=value …]",
		"gatehouse serve                               # every service on 127.0.0.1, data in ./gatehouse-data",
		"gatehouse serve --host 0.0.0.0 --data /var/lib/gatehouse",
		"gatehouse serve --config gatehouse.toml --set services.zmqcmd.enabled=false",
		"gatehouse serve --check-config                # print the effective config and exit")
	c.Args = cobra.NoArgs
	fs := c.Flags()
	load := configFlags(e, fs)
	check := fs.Bool("check-config", false, "print the effective configuration as TOML and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	c.RunE = func(*cobra.Command, []string) error { return runServe(e, load, *check, *logLevel) }
	return c
}

func runServe(e *env, load func() (*config.Config, error), check bool, logLevel string) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	if logLevel != "" {
		cfg.Log.Level = logLevel
		if err := services.Validate(cfg); err != nil {
			return err
		}
	}
	if check {
		return config.WriteTOML(e.stdout, cfg)
	}
	log, level, closer, err := logging.NewLeveled(cfg.Log, cfg.DataDir, e.stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx, stop := e.signalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP (systemd reload, logrotate) re-reads the configuration instead
	// of killing the daemon.
	hup := make(chan os.Signal, 1)
	e.notify(hup, syscall.SIGHUP)
	defer e.stop(hup)
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start-up failed", "err", err)
		return err
	}
	log.Info("gatehouse running", "version", buildinfo.Current().Version, "data", cfg.DataDir)
	notify(log, sdnotify.Ready, "serving")
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			cfg = reload(log, level, cfg, load)
			d.Reload() // TLS certificates
		}
	}
	stop()
	notify(log, func(string) (bool, error) { return sdnotify.Stopping() }, "")
	if err := d.Shutdown(); err != nil {
		log.Warn("drain timeout reached; remaining connections were closed")
	}
	return nil
}

// reloadable are the keys a SIGHUP applies to the running daemon; every
// other changed key is logged as needing a restart. (The e2eeftp
// authorized clients and the cloudreport registry are read live anyway.)
var reloadable = map[string]bool{"log.level": true}

// reload re-reads the configuration the way start-up did (file,
// environment, flags), applies what can change at runtime and logs the rest.
// A configuration that does not load keeps the running one.
func reload(log *slog.Logger, level *slog.LevelVar, cur *config.Config, load func() (*config.Config, error)) *config.Config {
	notify(log, func(string) (bool, error) { return sdnotify.Reloading() }, "")
	defer notify(log, sdnotify.Ready, "serving")
	next, err := load()
	if err == nil {
		err = services.Validate(next)
	}
	if err != nil {
		log.Error("reload failed; the running configuration stays", "err", err)
		return cur
	}
	changed, err := config.Diff(cur, next)
	if err != nil {
		log.Error("reload failed; the running configuration stays", "err", err)
		return cur
	}
	var applied, restart []string
	for _, k := range changed {
		if !reloadable[k] {
			restart = append(restart, k)
			continue
		}
		applied = append(applied, k)
	}
	if l, err := logging.ParseLevel(next.Log.Level); err == nil {
		level.Set(l)
	}
	cur.Log.Level = next.Log.Level
	log.Info("configuration reloaded", "applied", applied, "needs_restart", restart)
	if len(restart) > 0 {
		log.Warn("changed keys take effect only after a restart", "keys", restart)
	}
	return cur
}

func notify(log *slog.Logger, f func(string) (bool, error), status string) {
	if _, err := f(status); err != nil {
		log.Warn("service manager notification failed", "err", err)
	}
}
