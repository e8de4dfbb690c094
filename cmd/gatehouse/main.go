// Command gatehouse is the one binary: the daemon (serve), key tools (keys),
// protocol clients (client), store administration (admin) and benchmarks
// (bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"

	"gatehouse/internal/buildinfo"
)

type command struct {
	summary string
	run     func(e *env, args []string) error
}

// env is what a command reads and writes besides its arguments: main wires
// the process's standard streams, environment and os/signal; tests pass
// buffers and an environment of their own and send signals in process. No
// command touches os.Stdin, os.Stdout, os.Stderr, os.Getenv or os/signal
// directly.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv and environ read the environment (the config's
	// GATEHOUSE_CONFIG and GATEHOUSE_* keys).
	getenv  func(string) string
	environ func() []string
	// notify relays the listed signals to c until stop(c) is called
	// (signal.Notify and signal.Stop for the real process).
	notify func(c chan<- os.Signal, sig ...os.Signal)
	stop   func(c chan<- os.Signal)
}

// processEnv is the env of the real process.
func processEnv() *env {
	return &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ,
		notify: signal.Notify, stop: signal.Stop}
}

// signalContext is signal.NotifyContext over e's signals: the context ends
// when one of sig arrives or stop is called.
func (e *env) signalContext(parent context.Context, sig ...os.Signal) (context.Context, context.CancelFunc) {
	ch := make(chan os.Signal, 1)
	e.notify(ch, sig...)
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		e.stop(ch)
		cancel()
	}
}

var commands = map[string]command{
	"serve":   {"run the daemon", runServe},
	"keys":    {"create and list keys: keys <service> …", func(e *env, a []string) error { return dispatch(e, "keys", keysCmds, a) }},
	"client":  {"talk to a service: client <service> …", func(e *env, a []string) error { return dispatch(e, "client", clientCmds, a) }},
	"admin":   {"inspect and manage stored state: admin <service> …", func(e *env, a []string) error { return dispatch(e, "admin", adminCmds, a) }},
	"bench":   {"measure the services: bench <service|all>", runBench},
	"version": {"print the version", runVersion},
}

// Per-service subcommands (the service names are those of the services
// list, a test checks; "tls" and "keys" are daemon-wide). The run functions
// live in each service's cmd file.
var (
	keysCmds = map[string]command{
		"e2eeftp": {"server identity and client keys: init | add-client | revoke | list", runE2EKeys},
		"tls":     {"TLS certificates of the tls_listen ports: show | init", runTLSKeys},
		"zmqcmd":  {"CURVE port keys: init | add-client | list | revoke", runZMQCmdKeys},
	}
	clientCmds = map[string]command{
		"backup": {
			summary: "back files up to the encrypted backup service (stands in for the original C++ client)",
			run: func(e *env, args []string) error {
				ctx, stop := e.signalContext(context.Background(), os.Interrupt)
				defer stop()
				return runBackupClient(ctx, e, args)
			},
		},
		"clock": {
			summary: "TIME/DATE/TEMP menu client of the legacy clock protocol (toy DH + Caesar)",
			run: func(e *env, args []string) error {
				ctx, stop := e.signalContext(context.Background(), os.Interrupt)
				defer stop()
				return runClockClient(ctx, e, args)
			},
		},
		"cloudreport": {
			summary: "run INIT, INFO, PING, VERS, DWNL and ERRL against a Cloud Report server",
			run:     runCloudreportClient,
		},
		"e2eeftp": {"encrypted file transfer: send | get | list | delete | help", runE2EClient},
		"zmqcmd": {
			summary: "send os/compute commands to the ZeroMQ JSON command service (REQ over ZMTP)",
			run: func(e *env, args []string) error {
				ctx, stop := e.signalContext(context.Background(), os.Interrupt)
				defer stop()
				return runZMQCmdClient(ctx, e, args)
			},
		},
	}
	adminCmds = map[string]command{
		"backup": {
			summary: "backup clients, files and versions; export a version: admin backup clients|files|versions|export",
			run:     func(e *env, args []string) error { return runBackupAdmin(context.Background(), e, args) },
		},
		"cloudreport": {
			summary: "client registry, error reports and update files: add|list|enable|disable|set-expiry|errors|publish|unpublish|updates",
			run:     runCloudreportAdmin,
		},
		"keys": {
			summary: "fingerprints of the keys daemons sharing the store must hold alike: pins|unpin NAME",
			run:     runKeyPinsAdmin,
		},
	}
)

func runVersion(e *env, args []string) error {
	fs := newFlagSet(e, "version", "gatehouse version", "gatehouse version    # e.g. gatehouse v1.2.0 (rev 8c7fd24…, 2026-12-04T20:14:41Z) go1.26.8 linux/amd64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, versionLine(buildinfo.Current()))
	return nil
}

func versionLine(b buildinfo.Info) string {
	line := "gatehouse " + b.Version
	if b.Revision != "" {
		line += " (rev " + b.Revision
		if b.Time != "" {
			line += ", " + b.Time
		}
		if b.Modified {
			line += ", modified"
		}
		line += ")"
	}
	return line + " " + b.GoVersion + " " + b.Platform
}

// errUsage marks an error whose usage text was already printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], processEnv()))
}

// run runs the command args names with e's streams and signals and returns
// the process exit code.
func run(args []string, e *env) int {
	stderr := e.stderr
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, "gatehouse", commands)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n", args[0])
		usage(stderr, "gatehouse", commands)
		return 2
	}
	if err := c.run(e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "gatehouse %s: %v\n", args[0], err)
		}
		return 1
	}
	return 0
}

func dispatch(e *env, group string, cmds map[string]command, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(e.stderr, "gatehouse "+group, cmds)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "gatehouse %s: unknown service %q\n\n", group, args[0])
		usage(e.stderr, "gatehouse "+group, cmds)
		return errUsage
	}
	return c.run(e, args[1:])
}

func usage(w io.Writer, prefix string, cmds map[string]command) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", prefix)
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags and examples.\n", prefix)
}

// newFlagSet returns a FlagSet that writes to e.stderr and whose -h prints
// the usage line, the flags and the examples.
func newFlagSet(e *env, name, synopsis string, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
		if len(examples) > 0 {
			fmt.Fprintf(w, "\nexamples:\n  %s\n", strings.Join(examples, "\n  "))
		}
	}
	return fs
}
