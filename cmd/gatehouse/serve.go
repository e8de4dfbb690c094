package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/logging"

	_ "gatehouse/internal/daemon/all" // every built-in service
)

// setFlags collects repeated -set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// configFlags registers the flags every command that reads the config has,
// and returns a loader that applies them last (defaults < file < env < flags).
func configFlags(fs *flag.FlagSet) func() (*config.Config, error) {
	path := fs.String("config", "", "TOML config file (optional)")
	data := fs.String("data", "", "data directory (default ./gatehouse-data)")
	host := fs.String("host", "", "address every default listener binds (default 127.0.0.1; 0.0.0.0 for all interfaces)")
	var sets setFlags
	fs.Var(&sets, "set", "set any config key, e.g. -set services.clock.max_conns=64 (repeatable)")
	return func() (*config.Config, error) {
		cfg, err := config.Load(*path)
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
				return nil, fmt.Errorf("-set %q: want key=value", kv)
			}
			if err := cfg.Set(k, v); err != nil {
				return nil, fmt.Errorf("-set: %w", err)
			}
		}
		return cfg, cfg.Validate()
	}
}

func runServe(args []string) error {
	fs := newFlagSet("serve", "gatehouse serve [-config FILE] [-data DIR] [-host ADDR] [-set key=value …]",
		"gatehouse serve                               # every service on 127.0.0.1, data in ./gatehouse-data",
		"gatehouse serve -host 0.0.0.0 -data /var/lib/gatehouse",
		"gatehouse serve -config gatehouse.toml -set services.zmqcmd.enabled=false",
		"gatehouse serve -check-config               # print the effective config and exit")
	load := configFlags(fs)
	check := fs.Bool("check-config", false, "print the effective configuration as TOML and exit")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides log.level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
		if err := cfg.Validate(); err != nil {
			return err
		}
	}
	if *check {
		return config.WriteTOML(os.Stdout, cfg)
	}
	log, closer, err := logging.New(cfg.Log, cfg.DataDir, os.Stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start-up failed", "err", err)
		return err
	}
	log.Info("gatehouse running", "version", version, "data", cfg.DataDir)
	<-ctx.Done()
	stop()
	if err := d.Shutdown(); err != nil {
		log.Warn("drain timeout reached; remaining connections were closed")
	}
	return nil
}
