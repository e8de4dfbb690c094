package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"gatehouse/internal/services"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/backup"
)

// startBackupDaemon runs the daemon in-process with only the backup
// service, on a free loopback port.
func startBackupDaemon(t *testing.T) (addr, dataDir string) {
	t.Helper()
	return startBackupDaemonWith(t, nil)
}

func startBackupDaemonWith(t *testing.T, edit func(*config.Config)) (addr, dataDir string) {
	t.Helper()
	d, dataDir := startBackupDaemonD(t, edit)
	return d.Server.Addr("backup").String(), dataDir
}

// startBackupDaemonD is startBackupDaemonWith returning the daemon (for
// its TLS address).
func startBackupDaemonD(t *testing.T, edit func(*config.Config)) (d *daemon.Daemon, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	cfg := config.Default()
	if edit != nil {
		edit(cfg)
	}
	cfg.Services.Backup.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "backup"
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown() })
	return d, dataDir
}

func TestBackupClientAndAdmin(t *testing.T) {
	t.Parallel()
	addr, data := startBackupDaemon(t)
	ctx := context.Background()
	work := t.TempDir()
	small := filepath.Join(work, "small.txt")
	os.WriteFile(small, []byte("hello backup\n"), 0o644)
	big := filepath.Join(work, "big.bin")
	bigData := make([]byte, 5<<20)
	rand.Read(bigData)
	os.WriteFile(big, bigData, 0o644)

	var out, errb bytes.Buffer
	err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--server", addr, "--name", "alice", "--dir", work, "--file", small, "--file", big})
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "registered as \"alice\"") || strings.Count(out.String(), "backed up") != 2 {
		t.Fatalf("output:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "big.bin") {
		t.Errorf("no progress line for the large file: %q", errb.String())
	}
	me, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile))
	if err != nil || me.Name != "alice" || len(me.PublicKey) != backup.LegacyKeySize {
		t.Fatalf("me.info %+v %v", me, err)
	}
	if st, err := os.Stat(filepath.Join(work, backup.PrivKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("priv.key: %v", err)
	}

	// Second run: transfer.info supplies everything, me.info makes it a reconnect.
	if err := backup.WriteTransferInfo(filepath.Join(work, backup.TransferInfoFile),
		backup.TransferInfo{Addr: addr, Name: "ignored", Files: []string{small}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--quiet"}); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "reconnected as \"alice\", id "+me.ID.String()) {
		t.Fatalf("output:\n%s", out.String())
	}

	out.Reset()
	if err := runBackupAdmin(ctx, bufEnv(&out, io.Discard), []string{"clients", "-data", data}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), me.ID.String()) || !strings.Contains(out.String(), "160-byte RSA") {
		t.Fatalf("clients:\n%s", out.String())
	}
	out.Reset()
	if err := runBackupAdmin(ctx, bufEnv(&out, io.Discard), []string{"files", "-data", data, "--client", me.ID.String()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\"small.txt\"", "\"big.bin\"", "verified", "5242880"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("files listing lacks %s:\n%s", want, out.String())
		}
	}
	// Each upload has its own blob, kept as a version: small.txt twice
	// (both runs), big.bin once.
	copies, _ := filepath.Glob(filepath.Join(data, "blobs", "backup", "files", me.ID.String(), "*"))
	if len(copies) != 3 {
		t.Fatalf("blobs %v, want one per verified upload", copies)
	}
	found := false
	for _, p := range copies {
		stored, err := os.ReadFile(p)
		found = found || err == nil && bytes.Equal(stored, bigData)
	}
	if !found {
		t.Fatal("no blob holds big.bin")
	}

	// A re-upload waiting for its 1029 shows as pending beside the
	// verified copy, and is gone after its 1031.
	key, err := backup.ReadPrivateKey(filepath.Join(work, backup.PrivKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c := &backup.Client{Addr: addr, Name: me.Name, ID: me.ID, Key: key}
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	newer := []byte("hello backup, second edition\n")
	if _, _, err := c.UploadOnce(ctx, small, bytes.NewReader(newer), int64(len(newer))); err != nil {
		t.Fatal(err)
	}
	smallLine := func() string {
		out.Reset()
		if err := runBackupAdmin(ctx, bufEnv(&out, io.Discard), []string{"files", "-data", data}); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(l, "\"small.txt\"") {
				return l
			}
		}
		t.Fatalf("no small.txt in\n%s", out.String())
		return ""
	}
	if l := smallLine(); !strings.Contains(l, " 13 ") || !strings.Contains(l, "verified") || !strings.Contains(l, fmt.Sprintf("%d bytes, crc ", len(newer))) {
		t.Fatalf("pending re-upload not listed:\n%s", out.String())
	}
	if err := c.SendStatus(ctx, backup.CodeCRCFail, small); err != nil {
		t.Fatal(err)
	}
	if l := smallLine(); !strings.Contains(l, " 13 ") || !strings.Contains(l, "verified") || !strings.HasSuffix(strings.TrimSpace(l), " -") {
		t.Fatalf("after the 1031:\n%s", out.String())
	}
}

func TestBackupClientErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var out, errb bytes.Buffer
	work := t.TempDir()
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--file", "x"}); err == nil || !strings.Contains(err.Error(), "--name") {
		t.Errorf("no name: %v", err)
	}
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--name", "a"}); err == nil || !strings.Contains(err.Error(), "nothing to back up") {
		t.Errorf("no files: %v", err)
	}
	// Nobody listens on port 1 of the loopback (a real file, so the client
	// gets as far as connecting).
	real := filepath.Join(work, "real.txt")
	if err := os.WriteFile(real, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--name", "a", "--file", real, "--server", "127.0.0.1:1", "--timeout", "1s"}); err == nil || !strings.Contains(err.Error(), "login to 127.0.0.1:1") {
		t.Errorf("unreachable server: %v", err)
	}
	if err := runBackupAdmin(ctx, bufEnv(&out, io.Discard), []string{"nonsense", "-data", work}); err == nil {
		t.Error("unknown listing accepted")
	}
	errb.Reset()
	out.Reset()
	err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"-h"})
	if err == nil || !strings.Contains(out.String(), "examples:") {
		t.Errorf("-h: %v %q", err, out.String())
	}
}

// The C++ client runs in the folder of its transfer.info, so relative paths
// listed there are relative to --dir, not to the caller's working folder.
func TestBackupClientTransferInfoRelativeToDir(t *testing.T) {
	t.Parallel()
	addr, data := startBackupDaemon(t)
	ctx := context.Background()
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "rel.txt"), []byte("relative to transfer.info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := backup.WriteTransferInfo(filepath.Join(work, backup.TransferInfoFile),
		backup.TransferInfo{Addr: addr, Name: "rel", Files: []string{"rel.txt"}}); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--quiet"}); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "backed up rel.txt") {
		t.Fatalf("output:\n%s", out.String())
	}
	me, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	copies, _ := filepath.Glob(filepath.Join(data, "blobs", "backup", "files", me.ID.String(), "*"))
	if len(copies) != 1 {
		t.Fatalf("rel.txt blobs %v, want one", copies)
	}
	stored, err := os.ReadFile(copies[0])
	if err != nil || string(stored) != "relative to transfer.info\n" {
		t.Fatalf("stored %q %v", stored, err)
	}
}

// Nothing readable to back up: fail before registering, so a typo does not
// leave a new identity (me.info, priv.key, a server-side client) behind.
func TestBackupClientMissingFilesBeforeLogin(t *testing.T) {
	t.Parallel()
	addr, data := startBackupDaemon(t)
	ctx := context.Background()
	work := t.TempDir()
	var out, errb bytes.Buffer
	err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--server", addr, "--name", "typo", "--dir", work, "--file", filepath.Join(work, "nope.txt"), "--file", work})
	if err == nil || !strings.Contains(err.Error(), "nothing to back up") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(errb.String(), "nope.txt") || !strings.Contains(errb.String(), "not a regular file") {
		t.Errorf("stderr %q", errb.String())
	}
	if _, err := os.Stat(filepath.Join(work, backup.MeInfoFile)); err == nil {
		t.Error("me.info written although nothing could be backed up")
	}
	out.Reset()
	if err := runBackupAdmin(ctx, bufEnv(&out, io.Discard), []string{"clients", "-data", data}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "typo") {
		t.Errorf("client registered:\n%s", out.String())
	}
}

// A server that no longer knows the client's id (a new server, a lost
// database) gets no silent re-registration: the command fails naming
// --register and keeps the identity; with --register it registers anew.
// A file whose name the server would refuse is not sent at all.
func TestBackupClientForgottenIDAndBadNames(t *testing.T) {
	t.Parallel()
	first, _ := startBackupDaemon(t)
	second, _ := startBackupDaemon(t)
	ctx := context.Background()
	work := t.TempDir()
	good := filepath.Join(work, "good.txt")
	os.WriteFile(good, []byte("kept\n"), 0o644)
	var out, errb bytes.Buffer
	if err := runBackupClient(ctx, bufEnv(&out, &errb), []string{"--addr", first, "--name", "alice", "--dir", work, "--file", good}); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	me, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile))
	if err != nil {
		t.Fatal(err)
	}

	out.Reset()
	errb.Reset()
	err = runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--file", good, "--addr", second})
	if !errors.Is(err, backup.ErrNotRegistered) || !strings.Contains(err.Error(), "--register") || !strings.Contains(err.Error(), me.ID.String()) {
		t.Fatalf("forgotten id: %v\n%s%s", err, out.String(), errb.String())
	}
	if again, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile)); err != nil || again.ID != me.ID {
		t.Fatalf("identity not kept: %+v %v", again, err)
	}

	bad := filepath.Join(work, "bad\x01name.txt")
	os.WriteFile(bad, []byte("x"), 0o644)
	out.Reset()
	errb.Reset()
	err = runBackupClient(ctx, bufEnv(&out, &errb), []string{"--dir", work, "--file", good, "--file", bad, "--addr", second, "--register"})
	if err == nil || !strings.Contains(err.Error(), "1 of 2 file(s) not backed up") {
		t.Fatalf("--register with one refused name: %v\n%s%s", err, out.String(), errb.String())
	}
	now, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile))
	if err != nil || now.ID == me.ID || !strings.Contains(out.String(), "registered as") || strings.Count(out.String(), "backed up") != 1 {
		t.Fatalf("--register: me.info %+v %v\n%s", now, err, out.String())
	}
	if strings.Count(errb.String(), "not sent") != 1 || strings.Contains(out.String(), "bad") {
		t.Fatalf("the refused name was sent or not reported:\nstdout %s\nstderr %s", out.String(), errb.String())
	}
}
