package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/tlsutil"
	"gatehouse/internal/tlsutil/tlstest"
)

// Two versions uploaded with the client command come back with `client
// backup restore` (latest and -version 1), through a resumed partial file
// too, and with `admin backup export` as plaintext although the daemon
// stores ciphertext at rest; the errors name what is unknown.
func TestBackupRestoreCommands(t *testing.T) {
	t.Parallel()
	addr, data := startBackupDaemonWith(t, func(c *config.Config) { c.Services.Backup.EncryptAtRest = true })
	ctx := context.Background()
	work := t.TempDir()
	doc := filepath.Join(work, "doc.bin")
	v1 := make([]byte, 5<<20+7)
	rand.Read(v1)
	v2 := []byte("second version\n")
	var out, errb bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		errb.Reset()
		return runBackupClient(ctx, bufEnv(&out, &errb), args)
	}
	os.WriteFile(doc, v1, 0o644)
	if err := run("--server", addr, "--name", "carol", "--dir", work, "--file", doc); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	os.WriteFile(doc, v2, 0o644)
	if err := run("--server", addr, "--dir", work, "--file", doc, "--quiet"); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}

	if err := run("list", "--server", addr, "--dir", work); err != nil {
		t.Fatalf("list: %v\n%s", err, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[1], "doc.bin") ||
		!strings.Contains(lines[2], " 2 ") {
		t.Fatalf("list output:\n%s", out.String())
	}

	dest := t.TempDir()
	latest := filepath.Join(dest, "latest.bin")
	if err := run("restore", doc, "--server", addr, "--dir", work, "-o", latest); err != nil {
		t.Fatalf("restore: %v\n%s", err, errb.String())
	}
	if got, _ := os.ReadFile(latest); !bytes.Equal(got, v2) {
		t.Fatalf("latest restored as %q", got)
	}
	// Version 1, resumed from a partial file left by an earlier attempt
	// (its first 1 MiB and a few bytes: the stray tail is dropped).
	old := filepath.Join(dest, "old.bin")
	part := filepath.Join(dest, ".old.bin.v1.gatehouse-restore")
	os.WriteFile(part, v1[:1<<20+5], 0o600)
	if err := run("restore", "doc.bin", "-version", "1", "--server", addr, "--dir", work, "-o", old); err != nil {
		t.Fatalf("restore -version 1: %v\n%s", err, errb.String())
	}
	if got, _ := os.ReadFile(old); !bytes.Equal(got, v1) {
		t.Fatalf("version 1 restored as %d bytes", len(got))
	}
	if !strings.Contains(out.String(), "resumed at 1.0 MiB") || !strings.Contains(errb.String(), "doc.bin") {
		t.Errorf("restore output %q / %q", out.String(), errb.String())
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Errorf("partial file left behind: %v", err)
	}
	if err := run("restore", "nope.txt", "--server", addr, "--dir", work, "-o", old); err == nil || !strings.Contains(err.Error(), `unknown file "nope.txt"`) {
		t.Fatalf("unknown file: %v", err)
	}
	if err := run("restore", "doc.bin", "-version", "7", "--server", addr, "--dir", work); err == nil ||
		!strings.Contains(err.Error(), "unknown version 7") || !strings.Contains(err.Error(), "1, 2") {
		t.Fatalf("unknown version: %v", err)
	}

	me, err := backup.ReadMeInfo(filepath.Join(work, backup.MeInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var aout bytes.Buffer
	if err := runBackupAdmin(ctx, bufEnv(&aout, io.Discard), []string{"versions", "-data", data, "--client", me.ID.String()}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(aout.String(), "doc.bin") != 2 || !strings.Contains(aout.String(), "cipher") {
		t.Fatalf("versions:\n%s", aout.String())
	}
	aout.Reset()
	if err := runBackupAdmin(ctx, bufEnv(&aout, io.Discard), []string{"clients", "-data", data}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aout.String(), "VERSIONS") || !strings.Contains(aout.String(), "  1      2  ") {
		t.Fatalf("clients:\n%s", aout.String())
	}
	exp := filepath.Join(dest, "exported.bin")
	aout.Reset()
	if err := runBackupAdmin(ctx, bufEnv(&aout, io.Discard), []string{"export", "-data", data, "--client", me.ID.String(), "--file", "doc.bin", "--version", "1", "-o", exp}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(exp); !bytes.Equal(got, v1) || !strings.Contains(aout.String(), "CRC checked") {
		t.Fatalf("export: %d bytes, %s", len(got), aout.String())
	}
	if err := runBackupAdmin(ctx, bufEnv(&aout, io.Discard), []string{"export", "-data", data, "--client", me.ID.String(), "--file", "doc.bin", "--version", "3", "-o", exp}); err == nil ||
		!strings.Contains(err.Error(), "no version 3") {
		t.Fatalf("export of a missing version: %v", err)
	}
}

// Upload, list and restore all work over the daemon's backup tls_listen
// port, with its self-signed certificate trusted by file (--tls-ca) or by
// pin; a pin of another certificate is refused by list and restore too.
func TestBackupListRestoreOverTLS(t *testing.T) {
	d, data := startBackupDaemonD(t, func(c *config.Config) { c.Services.Backup.TLSListen = "127.0.0.1:0" })
	addr := d.Server.TLSAddr("backup").String()
	certFile, _ := tlsutil.SelfSignedPaths(data)
	fp, err := tlsutil.CertFileFingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	work := t.TempDir()
	doc := filepath.Join(work, "doc.txt")
	want := []byte("over TLS\n")
	os.WriteFile(doc, want, 0o644)
	var out, errb bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		errb.Reset()
		return runBackupClient(ctx, bufEnv(&out, &errb), args)
	}
	trust := []string{"--addr", addr, "--tls", "--tls-ca", certFile}
	if err := run(append([]string{"--name", "dora", "--dir", work, "--file", doc}, trust...)...); err != nil {
		t.Fatalf("upload: %v\n%s", err, errb.String())
	}
	if err := run(append([]string{"list", "--dir", work}, trust...)...); err != nil {
		t.Fatalf("list: %v\n%s", err, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "doc.txt") {
		t.Fatalf("list output:\n%s", out.String())
	}
	dest := filepath.Join(t.TempDir(), "back.txt")
	if err := run(append([]string{"restore", "doc.txt", "--dir", work, "-o", dest}, trust...)...); err != nil {
		t.Fatalf("restore: %v\n%s", err, errb.String())
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, want) {
		t.Fatalf("restored %q", got)
	}
	os.Remove(dest)
	if err := run("restore", "doc.txt", "--dir", work, "-o", dest, "--addr", addr, "--tls", "--tls-pin", fp); err != nil {
		t.Fatalf("restore with --tls-pin: %v\n%s", err, errb.String())
	}
	other := tlstest.New(t)
	for _, sub := range []string{"list", "restore"} {
		args := []string{sub, "--dir", work, "--addr", addr}
		if sub == "restore" {
			args = append(args, "doc.txt", "-o", filepath.Join(t.TempDir(), "x"))
		}
		if err := run(append(args, "--tls", "--tls-pin", other.ServerFingerprint)...); err == nil || !strings.Contains(err.Error(), "pinned fingerprint") {
			t.Fatalf("%s with a wrong pin: %v", sub, err)
		}
		if err := run(append(args, "--tls-ca", certFile)...); err == nil || !strings.Contains(err.Error(), "need --tls") {
			t.Fatalf("%s --tls-ca without --tls: %v", sub, err)
		}
	}
}
