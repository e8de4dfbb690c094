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
	run     func(args []string) error
}

var commands = map[string]command{
	"serve":   {"run the daemon", runServe},
	"keys":    {"create and list keys: keys <service> …", func(a []string) error { return dispatch("keys", keysCmds, a) }},
	"client":  {"talk to a service: client <service> …", func(a []string) error { return dispatch("client", clientCmds, a) }},
	"admin":   {"inspect and manage stored state: admin <service> …", func(a []string) error { return dispatch("admin", adminCmds, a) }},
	"bench":   {"measure the services: bench <service|all>", func(a []string) error { return runBench(a) }},
	"version": {"print the version", runVersion},
}

// Per-service subcommands (the service names are those of the services
// list, a test checks; "tls" and "keys" are daemon-wide). The run functions
// live in each service's cmd file.
var (
	keysCmds = map[string]command{
		"e2eeftp": {"server identity and client keys: init | add-client | revoke | list", runE2EKeys},
		"tls":     {"TLS certificates of the tls_listen ports: show | init", func(a []string) error { return runTLSKeys(a, os.Stdout) }},
		"zmqcmd":  {"CURVE port keys: init | add-client | list | revoke", runZMQCmdKeys},
	}
	clientCmds = map[string]command{
		"backup": {
			summary: "back files up to the encrypted backup service (stands in for the original C++ client)",
			run: func(args []string) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
				defer stop()
				return runBackupClient(ctx, args, os.Stdout, os.Stderr)
			},
		},
		"clock": {
			summary: "TIME/DATE/TEMP menu client of the legacy clock protocol (toy DH + Caesar)",
			run: func(args []string) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
				defer stop()
				return runClockClient(ctx, args, os.Stdin, os.Stdout, os.Stderr)
			},
		},
		"cloudreport": {
			summary: "run INIT, INFO, PING, VERS, DWNL and ERRL against a Cloud Report server",
			run:     func(a []string) error { return runCloudreportClient(a, os.Stdout) },
		},
		"e2eeftp": {"encrypted file transfer: send | get | list | delete | help", runE2EClient},
		"zmqcmd": {
			summary: "send os/compute commands to the ZeroMQ JSON command service (REQ over ZMTP)",
			run: func(args []string) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
				defer stop()
				return runZMQCmdClient(ctx, args, os.Stdout, os.Stderr)
			},
		},
	}
	adminCmds = map[string]command{
		"backup": {
			summary: "backup clients, files and versions; export a version: admin backup clients|files|versions|export",
			run:     func(args []string) error { return runBackupAdmin(context.Background(), args, os.Stdout) },
		},
		"cloudreport": {
			summary: "client registry, error reports and update files: add|list|enable|disable|set-expiry|errors|publish|unpublish|updates",
			run:     func(a []string) error { return runCloudreportAdmin(a, os.Stdout) },
		},
		"keys": {
			summary: "fingerprints of the keys daemons sharing the store must hold alike: pins|unpin NAME",
			run:     func(a []string) error { return runKeyPinsAdmin(a, os.Stdout) },
		},
	}
)

func runVersion(args []string) error {
	fs := newFlagSet("version", "gatehouse version", "gatehouse version    # e.g. gatehouse v1.2.0 (rev 8c7fd24…, 2026-12-04T20:14:41Z) go1.26.8 linux/amd64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Println(versionLine(buildinfo.Current()))
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
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
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
	if err := c.run(args[1:]); err != nil {
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

func dispatch(group string, cmds map[string]command, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stderr, "gatehouse "+group, cmds)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gatehouse %s: unknown service %q\n\n", group, args[0])
		usage(os.Stderr, "gatehouse "+group, cmds)
		return errUsage
	}
	return c.run(args[1:])
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

// newFlagSet returns a FlagSet whose -h prints the usage line, the flags and
// the examples.
func newFlagSet(name, synopsis string, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
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
