package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultAdminAddr(t *testing.T) {
	c := Default()
	if c.AdminAddr() != "127.0.0.1:9090" {
		t.Errorf("admin on %s", c.AdminAddr())
	}
}

func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "g.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUnknownKeysNamedByPath(t *testing.T) {
	p := writeFile(t, "[services.backup]\nlisten = \"127.0.0.1:1256\"\ntypo = 1\n[log]\ncolour = \"red\"\n")
	err := Default().LoadFile(p)
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, k := range []string{"services.backup.typo", "log.colour"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func TestPrecedenceFileThenEnv(t *testing.T) {
	p := writeFile(t, "host = \"0.0.0.0\"\n[services.clock]\nmax_conns = 7\nidle_timeout = \"3s\"\nenabled = false\n")
	c := Default()
	if err := c.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	if c.Services.Clock.MaxConns != 7 || c.Services.Clock.IdleTimeout != 3*time.Second || c.Services.Clock.Enabled {
		t.Fatalf("file not applied: %+v", c.Services.Clock.Common)
	}
	if c.Services.Backup.MaxConns != 1024 {
		t.Fatalf("untouched default changed: %d", c.Services.Backup.MaxConns)
	}
	err := c.LoadEnv([]string{"GATEHOUSE_SERVICES_CLOCK_MAX_CONNS=9", "GATEHOUSE_HOST=127.0.0.2", "PATH=/bin", "GATEHOUSE_TEST_PG=x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Services.Clock.MaxConns != 9 || c.Host != "127.0.0.2" {
		t.Fatalf("env not applied: %d %s", c.Services.Clock.MaxConns, c.Host)
	}
	if err := c.LoadEnv([]string{"GATEHOUSE_SERVICES_CLOCK_MAXCONNS=1"}); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SERVICES_CLOCK_MAXCONNS") {
		t.Fatalf("unknown env var not reported: %v", err)
	}
	if err := c.Set("services.clock.max_conns_per_ip", "-1"); err != nil || c.Services.Clock.Common.Validate("clock", "127.0.0.1:7777", "") == nil {
		t.Fatalf("negative max_conns_per_ip accepted: %v", err)
	}
	c.Services.Clock.MaxConnsPerIP = 0
	if err := c.Set("services.clock.max_conns", "x"); err == nil {
		t.Fatal("bad number accepted")
	}
	if err := c.Set("services.nope.listen", "x"); err == nil || !strings.Contains(err.Error(), "services.nope") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestFindConfigOrder(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(EnvConfig, "")
	old := SearchPaths
	t.Cleanup(func() { SearchPaths = old })
	SearchPaths = []string{"gatehouse.toml", filepath.Join(dir, "etc.toml")}
	if got := Find(""); got != "" {
		t.Fatalf("no file anywhere: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "etc.toml"), nil, 0o644)
	if got := Find(""); got != SearchPaths[1] {
		t.Fatalf("system file: %q", got)
	}
	os.WriteFile("gatehouse.toml", nil, 0o644)
	if got := Find(""); got != "gatehouse.toml" {
		t.Fatalf("./gatehouse.toml first: %q", got)
	}
	t.Setenv(EnvConfig, "/from/env.toml")
	if got := Find(""); got != "/from/env.toml" {
		t.Fatalf("env: %q", got)
	}
	if got := Find("flag.toml"); got != "flag.toml" {
		t.Fatalf("flag: %q", got)
	}
	// GATEHOUSE_CONFIG is not a config key, and not an unknown variable.
	c := Default()
	if err := c.LoadEnv([]string{EnvConfig + "=/x.toml"}); err != nil {
		t.Fatalf("GATEHOUSE_CONFIG rejected as an unknown variable: %v", err)
	}
}

// tls_cert/tls_key paths are relative to the data directory (the keys
// themselves are validated through the services list).
func TestTLSKeys(t *testing.T) {
	c := Default()
	c.DataDir = "/var/lib/gatehouse"
	if got := c.TLSPath("tls/x.crt"); got != "/var/lib/gatehouse/tls/x.crt" {
		t.Fatalf("relative path: %s", got)
	}
	if got := c.TLSPath("/etc/x.crt"); got != "/etc/x.crt" {
		t.Fatalf("absolute path: %s", got)
	}
}

func TestSetAcceptsTOMLArrays(t *testing.T) {
	c := Default()
	if err := c.Set("services.zmqcmd.allow", `["ping", "date"]`); err != nil {
		t.Fatal(err)
	}
	if got := c.Services.ZMQCmd.Allow; len(got) != 2 || got[0] != "ping" || got[1] != "date" {
		t.Fatalf("TOML array: %q", got)
	}
	if err := c.Set("services.zmqcmd.allow", "echo, uptime"); err != nil || len(c.Services.ZMQCmd.Allow) != 2 || c.Services.ZMQCmd.Allow[1] != "uptime" {
		t.Fatalf("comma list: %q %v", c.Services.ZMQCmd.Allow, err)
	}
	if err := c.Set("services.zmqcmd.allow", `["ping", 3]`); err == nil {
		t.Fatal("an array with a number accepted")
	}
}

func TestCheckConfigRedactsDSNPassword(t *testing.T) {
	c := Default()
	c.Store.DSN = "postgres://gatehouse:s3cr3t@db.internal:5432/gh?sslmode=verify-full&password=other"
	var b strings.Builder
	if err := WriteTOML(&b, c); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "s3cr3t") || strings.Contains(b.String(), "other") {
		t.Fatalf("password printed:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "gatehouse:REDACTED@db.internal:5432/gh") {
		t.Fatalf("DSN not shown redacted:\n%s", b.String())
	}
	if c.Store.DSN != "postgres://gatehouse:s3cr3t@db.internal:5432/gh?sslmode=verify-full&password=other" {
		t.Fatal("WriteTOML changed the config itself")
	}
	if got := RedactDSN("/var/lib/gatehouse/gh.db"); got != "/var/lib/gatehouse/gh.db" {
		t.Fatalf("a path changed: %q", got)
	}
}
