package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/bench"
	"gatehouse/internal/logging"

	"github.com/spf13/cobra"
)

func benchCmd(e *env) *cobra.Command {
	cmd := newCmd("bench", "measure the services: bench <service|all>", "gatehouse bench [flags] <service|sftp|idle|all> …",
		"gatehouse bench all                        # everything, ~3 s per figure, 1 GiB transfers",
		"gatehouse bench --quick all                 # smoke run: 0.5 s per figure, 16 MiB, 500 idle conns",
		"gatehouse bench -d 10s --clients 1,8,32 clock zmqcmd",
		"gatehouse bench --size 256MiB e2eeftp       # e2eeftp and the sftp peer on a 256 MiB file",
		"gatehouse bench --json --out /tmp/r idle     # 10,000 idle clock sessions, JSON on stdout")
	fs := cmd.Flags()
	out := fs.String("out", "./bench-results", "folder for results.json, results.txt and chart.svg (a time-stamped subfolder per run)")
	dur := fs.DurationP("duration", "d", 0, "duration of each request/response figure and baseline (default 3s, --quick 500ms)")
	clients := fs.String("clients", "1,8", "comma-separated client counts for request/response figures")
	size := fs.String("size", "", "transfer file size, e.g. 1GiB, 64MiB, 1000000 (default 1GiB, --quick 16MiB)")
	idle := fs.Int("idle", 0, "idle clock connections to open (default 10000, --quick 500); 100000 needs a hard open-file limit above it (ulimit -Hn)")
	idleSources := fs.Int("idle-sources", 0, "loopback source addresses (127.0.0.2 …) the idle connections are spread over (default: enough for the count)")
	idleProbes := fs.Int("idle-probes", 0, "new clients timed one by one while the idle sessions are open (default 100)")
	secure := fs.Bool("secure", true, "also measure the secure side doors (TLS, CURVE) next to their plain rows")
	rounds := fs.Int("rounds", 1, "rounds of echo-then-service per request/response figure, interleaved; rates are totals, p50/p99 the median round's")
	quick := fs.Bool("quick", false, "fast smoke run with small sizes")
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout instead of the table")
	cipher := fs.String("sftp-cipher", "", "cipher for the sftp peer (sftp -c); empty is OpenSSH's default")
	scratch := fs.String("scratch", "", "parent of the throw-away data directory (default the system temp dir)")
	storeDSN := fs.String("store", "", "the daemon's store.dsn, e.g. postgres://user@127.0.0.1:5432/db (default SQLite in its data folder)")
	blobURL := fs.String("blob", "", "the daemon's blob.url, e.g. s3://bucket/prefix (default local files); S3 credentials from GATEHOUSE_S3_*")
	logLevel := fs.String("log-level", bench.DefaultLogLevel, "the daemon's log level (debug, info, warn, error); at info, its own default, backup handshakes, zmqcmd requests and e2eeftp transfers write a line each")
	exe := fs.String("exe", "", "gatehouse binary to run as the daemon (default this binary)")
	serveEcho := fs.Bool("serve-echo", false, "internal: run the echo limit server for a parent bench (stops when stdin closes)")
	fs.MarkHidden("serve-echo")
	timeout := fs.Duration("timeout", 60*time.Minute, "stop the whole run after this long")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *serveEcho {
			ctx, stop := e.signalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.ServeEcho(ctx, e.stdout, e.stdin)
		}
		targets, err := bench.Resolve(fs.Args())
		if err != nil {
			fs.Usage()
			return err
		}
		if *rounds < 1 || *rounds > 20 {
			return errors.New("--rounds: want 1 to 20")
		}
		if _, err := logging.ParseLevel(*logLevel); err != nil {
			return fmt.Errorf("--log-level: want debug, info, warn or error, got %q", *logLevel)
		}
		o := bench.Options{Targets: targets, Quick: *quick, Rounds: *rounds, SFTPCiph: *cipher, Log: e.stderr,
			Backends: bench.Backends{Store: *storeDSN, Blob: *blobURL, LogLevel: *logLevel},
			Duration: bench.DefaultDuration, Size: bench.DefaultSize, IdleConns: bench.DefaultIdleConns}
		if *quick {
			o.Duration, o.Size, o.IdleConns = bench.QuickDuration, bench.QuickSize, bench.QuickIdleConns
		}
		if *dur > 0 {
			o.Duration = *dur
		}
		if *size != "" {
			if o.Size, err = parseSize(*size); err != nil {
				return fmt.Errorf("--size: %w", err)
			}
		}
		if *idle > 0 {
			o.IdleConns = *idle
		}
		if *idleSources < 0 || *idleProbes < 0 {
			return errors.New("--idle-sources, --idle-probes: want 0 (automatic) or more")
		}
		o.IdleSources, o.IdleProbes, o.SkipSecure = *idleSources, *idleProbes, !*secure
		for _, c := range strings.Split(*clients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 1 || n > 1024 {
				return fmt.Errorf("--clients: want counts between 1 and 1024, got %q", c)
			}
			o.Clients = append(o.Clients, n)
		}
		if o.Exe = *exe; o.Exe == "" {
			if o.Exe, err = os.Executable(); err != nil {
				return fmt.Errorf("cannot find this binary to run the daemon (use --exe): %w", err)
			}
		}
		o.EchoExe = o.Exe
		if o.Scratch, err = os.MkdirTemp(*scratch, "gatehouse-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.Scratch)

		ctx, stop := e.signalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		r, runErr := bench.Run(ctx, o)
		if r == nil {
			return runErr
		}
		if *asJSON {
			err = r.WriteJSON(e.stdout)
		} else {
			fmt.Fprintln(e.stdout)
			err = r.WriteTable(e.stdout)
		}
		if err != nil {
			return err
		}
		dir, err := bench.WriteResults(r, *out)
		if err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		fmt.Fprintf(e.stderr, "bench: results in %s (results.json, results.txt, chart.svg)\n", dir)
		if runErr != nil {
			return fmt.Errorf("run stopped early: %w", runErr)
		}
		return nil
	}
	return cmd
}

// parseSize reads 1GiB, 64MiB, 512KiB, 1GB, 10MB or a plain byte count.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			s, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	if n <= 0 || n > (64<<30)/mult {
		return 0, errors.New("size must be between 1 byte and 64 GiB")
	}
	return n * mult, nil
}
