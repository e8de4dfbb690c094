package main

import (
	"bytes"
	"context"
	"gatehouse/internal/services"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/zmtp"
)

// zmqKeys runs 'gatehouse keys zmqcmd ARGS' in process and returns what it
// printed, stderr (the data directory line, errors) first.
func zmqKeys(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"keys", "zmqcmd"}, args...), bufEnv(&out, &errb))
	return errb.String() + out.String(), code == 0
}

func curveDaemon(t *testing.T, data string, set map[string]string) *daemon.Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = data
	cfg.Admin.Enabled = false
	for _, name := range services.Names() {
		sc, _ := services.Common(cfg, name)
		sc.Enabled = name == "zmqcmd"
	}
	for k, v := range set {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown() })
	return d
}

// TestZMQCmdCurveKeysAndDaemon: the operator's path end to end — keys
// init and add-client, the daemon with curve_listen and os_requires_curve,
// the CLI client on both ports, list, revoke.
func TestZMQCmdCurveKeysAndDaemon(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	out, ok := zmqKeys(t, "init", "-data", data)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	serverKey := lines[len(lines)-1]
	if !ok {
		t.Fatalf("init: %s", out)
	}
	if _, err := zmtp.ParseKey(serverKey); err != nil {
		t.Fatalf("init's last line %q is not a Z85 key: %v", serverKey, err)
	}
	st, err := os.Stat(filepath.Join(data, "zmqcmd", "curve_server.key_secret"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v", st, err)
	}
	if out, ok := zmqKeys(t, "init", "-data", data); ok || !strings.Contains(out, "-force") {
		t.Fatalf("second init: %s", out)
	}
	alice := filepath.Join(t.TempDir(), "alice")
	if out, ok := zmqKeys(t, "add-client", "-data", data, "-out", alice, "-comment", "alice"); !ok {
		t.Fatalf("add-client -out: %s", out)
	}
	// A key generated elsewhere (as zmq.curve_keypair() would print it).
	bobPub, _, err := zmtp.GenerateCurveKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := zmqKeys(t, "add-client", "-data", data, "-pub", zmtp.KeyText(bobPub), "-comment", "bob"); !ok || !strings.Contains(out, "authorized") {
		t.Fatalf("add-client -pub: %s", out)
	}
	if out, ok := zmqKeys(t, "add-client", "-data", data, "-pub", "not a key"); ok {
		t.Fatalf("bad -pub accepted: %s", out)
	}
	out, ok = zmqKeys(t, "list", "-data", data)
	if !ok || !strings.Contains(out, serverKey) || !strings.Contains(out, "2 authorized") || !strings.Contains(out, "# bob") {
		t.Fatalf("list: %s", out)
	}

	d := curveDaemon(t, data, map[string]string{
		"services.zmqcmd.listen":            "127.0.0.1:0",
		"services.zmqcmd.curve_listen":      "127.0.0.1:0",
		"services.zmqcmd.os_requires_curve": "true",
		"services.zmqcmd.allow":             "echo",
	})
	nullAddr, curveAddr := d.Server.Addr("zmqcmd").String(), d.Server.Addr("zmqcmd-curve").String()
	cli := func(args ...string) (string, error) {
		var o, e bytes.Buffer
		err := runZMQCmdClient(context.Background(), bufEnv(&o, &e), args)
		return o.String(), err
	}
	curve := []string{"-addr", curveAddr, "-server-key", serverKey, "-key", filepath.Join(alice, "client.key_secret")}
	if out, err := cli(append(curve, "os", "echo", "hi")...); err != nil || out != "hi\n" {
		t.Fatalf("os on CURVE port: %q %v", out, err)
	}
	// The server key given as the certificate file add-client wrote.
	certArgs := []string{"-addr", curveAddr, "-server-key", filepath.Join(alice, "curve_server.key"), "-key", filepath.Join(alice, "client.key_secret")}
	if out, err := cli(append(certArgs, "compute", "2**10")...); err != nil || out != "1024\n" {
		t.Fatalf("compute on CURVE port: %q %v", out, err)
	}
	if _, err := cli("-addr", nullAddr, "os", "echo", "hi"); err == nil || !strings.Contains(err.Error(), "CURVE port") {
		t.Fatalf("os on NULL port with os_requires_curve: %v", err)
	}
	if out, err := cli("-addr", nullAddr, "compute", "2**10"); err != nil || out != "1024\n" {
		t.Fatalf("compute on NULL port: %q %v", out, err)
	}
	if _, err := cli("-addr", curveAddr, "-server-key", serverKey, "compute", "1"); err == nil {
		t.Fatal("-server-key without -key accepted")
	}
	aliceCert, err := os.ReadFile(filepath.Join(alice, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	aliceKey := between(string(aliceCert), `public-key = "`, `"`)
	if out, ok := zmqKeys(t, "revoke", "-data", data, "-pub", aliceKey); !ok {
		t.Fatalf("revoke: %s", out)
	}
	if _, err := cli(append(curve, "compute", "1")...); err == nil || !strings.Contains(err.Error(), "add-client -pub "+aliceKey) {
		t.Fatalf("revoked key: %v", err)
	}
	if out, ok := zmqKeys(t, "revoke", "-data", data, "-pub", aliceKey); ok {
		t.Fatalf("second revoke: %s", out)
	}
	if out, _ := zmqKeys(t, "list", "-data", data); !strings.Contains(out, "1 authorized") || strings.Contains(out, aliceKey) {
		t.Fatalf("list after revoke: %s", out)
	}
}

func between(s, a, b string) string {
	_, s, _ = strings.Cut(s, a)
	s, _, _ = strings.Cut(s, b)
	return s
}

// TestZMQCmdCurveOnly: null_enabled=false leaves only the CURVE port; a
// CURVE port without a server key, or no port at all, fails at start.
func TestZMQCmdCurveOnly(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if out, ok := zmqKeys(t, "init", "-data", data); !ok {
		t.Fatal(out)
	}
	d := curveDaemon(t, data, map[string]string{
		"services.zmqcmd.listen":       "127.0.0.1:0",
		"services.zmqcmd.curve_listen": "127.0.0.1:0",
		"services.zmqcmd.null_enabled": "false",
	})
	if d.Server.Addr("zmqcmd") != nil || d.Server.Addr("zmqcmd-curve") == nil {
		t.Fatalf("listeners: null %v curve %v", d.Server.Addr("zmqcmd"), d.Server.Addr("zmqcmd-curve"))
	}
	// A second daemon sharing the store with another server key refuses
	// to start: clients hold the pinned one.
	other := t.TempDir()
	if out, ok := zmqKeys(t, "init", "-data", other); !ok {
		t.Fatal(out)
	}
	cfg := config.Default()
	cfg.DataDir = other
	cfg.Store.DSN = filepath.Join(data, "gatehouse.db")
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "zmqcmd"
	}
	for k, v := range map[string]string{"services.zmqcmd.listen": "127.0.0.1:0", "services.zmqcmd.curve_listen": "127.0.0.1:0"} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if d2, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "zmqcmd/curve_server") {
		if d2 != nil {
			d2.Shutdown()
		}
		t.Fatalf("second daemon with another CURVE key: %v", err)
	}
	for name, set := range map[string]map[string]string{
		"no key":  {"services.zmqcmd.listen": "127.0.0.1:0", "services.zmqcmd.curve_listen": "127.0.0.1:0"},
		"no port": {"services.zmqcmd.listen": "127.0.0.1:0", "services.zmqcmd.null_enabled": "false"},
	} {
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		cfg.Admin.Enabled = false
		for _, n := range services.Names() {
			sc, _ := services.Common(cfg, n)
			sc.Enabled = n == "zmqcmd"
		}
		for k, v := range set {
			if err := cfg.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil {
			d.Shutdown()
			t.Fatalf("%s: daemon started", name)
		}
	}
}
