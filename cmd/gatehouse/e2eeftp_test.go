package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"gatehouse/internal/services"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// e2eRun runs gatehouse in process in dir and returns stdout, stderr, and
// whether it exited 0.
func e2eRun(t *testing.T, dir string, args ...string) (string, string, bool) {
	t.Helper()
	return runCmd(t, dir, args...)
}

// startE2EServe runs `gatehouse serve` in process with only e2eeftp enabled
// and returns its address and the running serve.
func startE2EServe(t *testing.T, data string) (string, *served) {
	t.Helper()
	args := []string{"-data", data, "-set", "admin.enabled=false", "-set", "services.e2eeftp.listen=127.0.0.1:0"}
	for _, n := range services.Names() {
		if n != "e2eeftp" {
			args = append(args, "-set", "services."+n+".enabled=false")
		}
	}
	s := serveInProcess(t, args...)
	m := regexp.MustCompile(`msg="service listening" service=e2eeftp addr=(\S+)`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("e2eeftp did not start:\n%s", s.logs.String())
	}
	return m[1], s
}

func TestE2EEFTPKeysAndClientCLI(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	alice := filepath.Join(root, "alice")

	out, errs, ok := e2eRun(t, root, "keys", "e2eeftp", "init", "-data", data)
	if !ok || !strings.Contains(out, "known_server.pub") {
		t.Fatalf("init: %s %s", out, errs)
	}
	st, err := os.Stat(filepath.Join(data, "e2eeftp", "server_id.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server_id.key: %v %v", err, st)
	}
	if _, errs, ok := e2eRun(t, root, "keys", "e2eeftp", "init", "-data", data); ok || !strings.Contains(errs, "-force") {
		t.Fatalf("second init must refuse: %s", errs)
	}
	out, errs, ok = e2eRun(t, root, "keys", "e2eeftp", "init", "-force", "-data", data)
	if !ok || !strings.Contains(out, "restart a running daemon") {
		t.Fatalf("init -force: %s %s", out, errs)
	}
	// Without key files the client says which flags and command help.
	if _, errs, ok := e2eRun(t, root, "client", "e2eeftp", "list", "-addr", "127.0.0.1:1"); ok ||
		!strings.Contains(errs, "client_id.key") || !strings.Contains(errs, "-key") || !strings.Contains(errs, "add-client") {
		t.Fatalf("list without keys: %s", errs)
	}
	out, errs, ok = e2eRun(t, root, "keys", "e2eeftp", "add-client", "-data", data, "-out", alice, "-comment", "alice")
	if !ok || !strings.Contains(out, "authorised") {
		t.Fatalf("add-client: %s %s", out, errs)
	}
	if st, err := os.Stat(filepath.Join(alice, "client_id.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("client_id.key: %v", err)
	}
	out, _, ok = e2eRun(t, root, "keys", "e2eeftp", "list", "-data", data)
	if !ok || !strings.Contains(out, "1 authorised client") || !strings.Contains(out, "# alice") {
		t.Fatalf("list: %s", out)
	}

	// The file-based replay cache of older versions is obsolete: the
	// daemon removes it (the store's replay log replaces it).
	obsolete := filepath.Join(data, "e2eeftp", "replay.cache")
	if err := os.WriteFile(obsolete, make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, serve := startE2EServe(t, data)
	payload := make([]byte, 200<<10)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(alice, "report.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	c := func(args ...string) (string, string, bool) {
		return e2eRun(t, alice, append([]string{"client", "e2eeftp", args[0], "-addr", addr, "-q"}, args[1:]...)...)
	}
	if out, errs, ok := c("send", "report.bin"); !ok || !strings.Contains(out, "226") {
		t.Fatalf("send: %s %s", out, errs)
	}
	if out, _, ok := c("list"); !ok || out != "report.bin\n" {
		t.Fatalf("list: %q", out)
	}
	if out, errs, ok := c("get", "report.bin"); !ok {
		t.Fatalf("get: %s %s", out, errs)
	}
	got, err := os.ReadFile(filepath.Join(alice, "downloaded_report.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	if out, _, ok := c("get", "-o", "-", "report.bin"); !ok || out != string(payload) {
		t.Fatal("get -o - differs")
	}
	if _, errs, ok := c("get", "missing.txt"); ok || !strings.Contains(errs, "404|File not found: missing.txt") {
		t.Fatalf("get missing: %s", errs)
	}
	if _, err := os.Stat(filepath.Join(alice, "downloaded_missing.txt")); err == nil {
		t.Fatal("a failed get left a file")
	}
	if _, errs, ok := c("get", "../server_id.key"); ok || !strings.Contains(errs, "invalid remote name") {
		t.Fatalf("traversal get: %s", errs)
	}
	if out, _, ok := c("help"); !ok || !strings.Contains(out, "supports: SEND GET LIST DELETE HLIST") {
		t.Fatalf("help: %s", out)
	}
	if out, _, ok := c("delete", "report.bin"); !ok || !strings.Contains(out, "File deleted") {
		t.Fatalf("delete: %s", out)
	}
	if _, errs, ok := c("delete", "report.bin"); ok || !strings.Contains(errs, "404|File not found") {
		t.Fatalf("delete again: %s", errs)
	}

	// A client authorised while the daemon runs can connect at once.
	bob := filepath.Join(root, "bob")
	if _, errs, ok := e2eRun(t, root, "keys", "e2eeftp", "add-client", "-data", data, "-out", bob); !ok {
		t.Fatalf("add bob: %s", errs)
	}
	if out, errs, ok := e2eRun(t, bob, "client", "e2eeftp", "list", "-addr", addr); !ok || out != "" {
		t.Fatalf("bob list: %q %s", out, errs)
	}
	// An unauthorised key is refused.
	carol := filepath.Join(root, "carol")
	os.MkdirAll(carol, 0o750)
	b, _ := os.ReadFile(filepath.Join(bob, "known_server.pub"))
	os.WriteFile(filepath.Join(carol, "known_server.pub"), b, 0o644)
	os.WriteFile(filepath.Join(carol, "client_id.key"), []byte(strings.Repeat("x", 10)), 0o600)
	if _, _, ok := e2eRun(t, carol, "client", "e2eeftp", "list", "-addr", addr); ok {
		t.Fatal("carol with a bad key file succeeded")
	}

	// Every accepted hello is in the store's replay log.
	if !serve.sig.send(syscall.SIGTERM) {
		t.Fatal("serve does not listen for SIGTERM")
	}
	if code := serve.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("serve exit: %d", code)
	}
	if _, err := os.Stat(obsolete); !os.IsNotExist(err) {
		t.Fatalf("obsolete replay.cache still there: %v", err)
	}
	db, err := store.Open(context.Background(), filepath.Join(data, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, err := db.E2EEFTPReplayCount(context.Background()); err != nil || n < 9 {
		t.Fatalf("replay log holds %d keys (%v), want one per accepted hello (>= 9)", n, err)
	}
}

func TestE2EEFTPHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{
		{"keys", "e2eeftp", "init", "-h"}, {"keys", "e2eeftp", "add-client", "-h"}, {"keys", "e2eeftp", "list", "-h"},
		{"client", "e2eeftp", "send", "-h"}, {"client", "e2eeftp", "get", "-h"}, {"client", "e2eeftp", "list", "-h"},
		{"client", "e2eeftp", "delete", "-h"}, {"client", "e2eeftp", "help", "-h"},
	} {
		help, _, ok := e2eRun(t, t.TempDir(), args...)
		if !ok || !strings.Contains(help, "examples:") || !strings.Contains(help, "usage: gatehouse") {
			t.Errorf("%v: ok=%v\n%s", args, ok, help)
		}
	}
	if _, errs, ok := e2eRun(t, t.TempDir(), "client", "e2eeftp", "bogus"); ok || !strings.Contains(errs, "unknown command") {
		t.Errorf("bogus: %s", errs)
	}
}
