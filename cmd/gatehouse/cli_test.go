package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// The per-service commands, run in process as `gatehouse client|admin
// <service> ARGS` would be.
func runBackupClient(ctx context.Context, e *env, args []string) error {
	return execute(ctx, e, append([]string{"client", "backup"}, args...))
}

func runBackupAdmin(ctx context.Context, e *env, args []string) error {
	return execute(ctx, e, append([]string{"admin", "backup"}, args...))
}

func runZMQCmdClient(ctx context.Context, e *env, args []string) error {
	return execute(ctx, e, append([]string{"client", "zmqcmd"}, args...))
}

func runClockClient(ctx context.Context, e *env, args []string) error {
	return execute(ctx, e, append([]string{"client", "clock"}, args...))
}

func runCloudreportClient(e *env, args []string) error {
	return execute(context.Background(), e, append([]string{"client", "cloudreport"}, args...))
}

func runCloudreportAdmin(e *env, args []string) error {
	return execute(context.Background(), e, append([]string{"admin", "cloudreport"}, args...))
}

func TestCanonicalArgs(t *testing.T) {
	t.Parallel()
	root := newRoot(bufEnv(nil, nil))
	for _, tc := range []struct{ in, want string }{
		// Flags after arguments, single-dash long flags, shorthands.
		{"client zmqcmd compute 1 -addr h:1", "client zmqcmd --addr h:1 -- compute 1"},
		{"client zmqcmd compute 1 --addr=h:1 --json", "client zmqcmd --addr=h:1 --json -- compute 1"},
		{"client e2eeftp get big.bin -addr h:1 -q -o out", "client e2eeftp get --addr h:1 -q -o out -- big.bin"},
		{"client e2eeftp get -o - big.bin", "client e2eeftp get -o - -- big.bin"},
		// zmqcmd's os parameters may start with a dash; -- ends the flags.
		{"client zmqcmd os rm -rf / -addr h:1", "client zmqcmd --addr h:1 -- os rm -rf /"},
		{"client zmqcmd os ls -- --addr", "client zmqcmd -- os ls --addr"},
		// Elsewhere an unknown flag stays a flag, for cobra to report.
		{"serve -bogus", "serve -bogus"},
		{"serve -data d -set a=b -check-config", "serve --data d --set a=b --check-config"},
		// Old spellings kept as hidden aliases are flags too.
		{"client backup --server h:1 --file a", "client backup --server h:1 --file a"},
		{"client backup restore x -server h:1 -version 2", "client backup restore --server h:1 --version 2 -- x"},
		// Groups, help and completion pass through untouched.
		{"client e2eeftp", "client e2eeftp"},
		{"help client e2eeftp", "help client e2eeftp"},
		{"__complete client e2eeftp get -", "__complete client e2eeftp get -"},
	} {
		if got := strings.Join(canonicalArgs(root, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%s\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

func runTLSKeys(e *env, args []string) error {
	return execute(context.Background(), e, append([]string{"keys", "tls"}, args...))
}

// A flag and its hidden older spelling both given is an error (as clock's
// --addr with --host/--port), not the last one silently winning; nothing
// is written to --dir.
func TestAliasAndFlagBothGiven(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"client", "backup", "--server", "127.0.0.1:1", "--addr", "127.0.0.1:2", "--name", "x", "--file", "f", "--dir", dir},
		{"client", "backup", "--addr=127.0.0.1:2", "-server", "127.0.0.1:1", "--name", "x", "--file", "f", "--dir", dir},
		{"client", "backup", "list", "--server", "127.0.0.1:1", "--addr", "127.0.0.1:2", "--dir", dir},
		{"client", "backup", "restore", "x", "-addr", "127.0.0.1:2", "-server", "127.0.0.1:1", "--dir", dir},
	} {
		code, _, errs := runCode(t, args...)
		if code != 1 || !strings.Contains(errs, "--addr and its older spelling --server both given") {
			t.Errorf("%q: exit %d\n%s", args, code, errs)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("wrote %v", ents)
	}
	// Either spelling alone is fine (here: no identity to reconnect with).
	for _, flag := range []string{"--server", "--addr"} {
		code, _, errs := runCode(t, "client", "backup", "list", flag, "127.0.0.1:1", "--dir", dir)
		if code != 1 || !strings.Contains(errs, "no backup identity") {
			t.Errorf("list %s: exit %d\n%s", flag, code, errs)
		}
	}
}
