package main

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/service/e2eeftp"

	"github.com/spf13/cobra"
)

// admin and keys never create a data directory, a store or a server
// identity unless --init asks: a missing one is an error naming the path
// and the ways out, and nothing is left behind.
func TestAdminAndKeysRefuseAMissingStore(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	missing := filepath.Join(root, "nowhere")
	empty := filepath.Join(root, "empty") // exists, holds no store
	if err := os.Mkdir(empty, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"admin", "cloudreport", "add", "--id", "00003e3b", "--name", "x"},
		{"admin", "cloudreport", "list"},
		{"admin", "cloudreport", "updates"},
		{"admin", "backup", "clients"},
		{"admin", "keys", "pins"},
		{"keys", "e2eeftp", "add-client", "--out", filepath.Join(root, "alice")},
		{"keys", "e2eeftp", "list"},
		{"keys", "e2eeftp", "revoke", "--pub", "oJql9HpnWYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpPA="},
		{"keys", "zmqcmd", "list"},
		{"keys", "zmqcmd", "add-client", "--out", filepath.Join(root, "bob")},
		{"keys", "tls", "show"},
	} {
		for _, dir := range []string{missing, empty} {
			if dir == empty && (args[1] == "zmqcmd" || args[1] == "tls") {
				continue // no store: an existing directory is enough
			}
			code, _, errs := runCode(t, append(args, "--data", dir)...)
			if code == 0 || !strings.Contains(errs, dir) || !strings.Contains(errs, "--data") || !strings.Contains(errs, "--init") {
				t.Errorf("%q --data %s: exit %d\n%s", args, dir, code, errs)
			}
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%q created %s", args, missing)
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Fatalf("%q wrote into %s: %v", args, empty, ents)
		}
	}
	for _, d := range []string{"alice", "bob"} {
		if _, err := os.Stat(filepath.Join(root, d)); err == nil {
			t.Errorf("a refused add-client wrote %s", d)
		}
	}
}

// --init creates what is missing; every command says on stderr which data
// directory it used and which config file named it, unless --quiet.
func TestAdminAndKeysInit(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	data := filepath.Join(root, "data")
	code, out, errs := runCode(t, "admin", "cloudreport", "add", "--id", "00003e3b", "--name", "Firm", "--data", data, "--init")
	if code != 0 || !strings.Contains(out, "added client 00003e3b") {
		t.Fatalf("add --init: exit %d\n%s%s", code, out, errs)
	}
	if want := "gatehouse: data directory " + data + " (no config file)\n"; errs != want {
		t.Fatalf("stderr %q, want %q", errs, want)
	}
	if _, err := os.Stat(filepath.Join(data, "gatehouse.db")); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCode(t, "admin", "cloudreport", "list", "--data", data, "--quiet")
	if code != 0 || errs != "" || !strings.Contains(out, "00003e3b") {
		t.Fatalf("list --quiet: exit %d\n%s%s", code, out, errs)
	}

	// The config is found as serve finds it: here GATEHOUSE_CONFIG.
	cfgFile := filepath.Join(root, "g.toml")
	if err := os.WriteFile(cfgFile, []byte("data = "+`"`+data+`"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var o, eb bytes.Buffer
	e := bufEnv(&o, &eb)
	setEnviron(e, "GATEHOUSE_CONFIG="+cfgFile)
	if code := run([]string{"admin", "cloudreport", "list"}, e); code != 0 || !strings.Contains(o.String(), "00003e3b") ||
		!strings.Contains(eb.String(), "data directory "+data+" (config "+cfgFile+")") {
		t.Fatalf("list via GATEHOUSE_CONFIG: exit %d\n%s%s", code, o.String(), eb.String())
	}

	// keys e2eeftp add-client --init on a fresh directory creates the
	// store and the server identity it needs; list shows fingerprints.
	fresh := filepath.Join(root, "fresh")
	alice := filepath.Join(root, "alice")
	code, out, errs = runCode(t, "keys", "e2eeftp", "add-client", "--out", alice, "--comment", "alice", "--data", fresh, "--init")
	if code != 0 || !strings.Contains(out, "created the server identity") || !strings.Contains(out, "authorised") {
		t.Fatalf("add-client --init: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCode(t, "keys", "e2eeftp", "list", "--data", fresh)
	if code != 0 || strings.Count(out, "SHA256:") != 2 || !strings.Contains(out, "# alice") {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	// The fingerprint is the one the server logs and the client's errors
	// name (e2eeftp.Fingerprint), not another hash of the same key.
	k, _, err := e2eeftp.LoadPrivateKey(filepath.Join(alice, e2eeftp.ClientKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fp := e2eeftp.Fingerprint(k.Public().(ed25519.PublicKey)); !strings.Contains(out, fp+"  ") {
		t.Fatalf("list does not show alice's fingerprint %s:\n%s", fp, out)
	}
}

// --host (where serve's listeners bind) is not listed by the admin and
// keys commands, which only read the data directory; 'keys tls init'
// lists it (the self-signed certificate names that host), serve too.
func TestAdminAndKeysDoNotListHost(t *testing.T) {
	code, out, _ := runCode(t, "keys", "e2eeftp", "list", "-h")
	if code != 0 || !strings.Contains(out, "--data") || strings.Contains(out, "--host") {
		t.Fatalf("keys e2eeftp list -h: exit %d\n%s", code, out)
	}
	var walk func(c *cobra.Command)
	leaves := 0
	walk = func(c *cobra.Command) {
		if c.Annotations["group"] != "" {
			for _, s := range c.Commands() {
				walk(s)
			}
			return
		}
		leaves++
		args := append(strings.Fields(c.CommandPath())[1:], "-h")
		code, out, _ := runCode(t, args...)
		want := c.CommandPath() == "gatehouse keys tls init"
		if code != 0 || strings.Contains(out, "--host") != want {
			t.Errorf("%s: exit %d, lists --host: %v, want %v\n%s", strings.Join(args, " "), code, !want, want, out)
		}
	}
	root := newRoot(bufEnv(nil, nil))
	for _, g := range []string{"keys", "admin"} {
		c, _, err := root.Find([]string{g})
		if err != nil {
			t.Fatal(err)
		}
		walk(c)
	}
	if leaves < 10 {
		t.Fatalf("only %d keys/admin commands found", leaves)
	}
	if _, out, _ := runCode(t, "serve", "-h"); !strings.Contains(out, "--host") {
		t.Fatalf("serve -h lacks --host:\n%s", out)
	}
}

// A relative data directory (the default ./gatehouse-data) is spelled the
// same, absolute, in the line naming it and in the refusal of the same run.
func TestDataDirectorySpelledAlike(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	abs := filepath.Join(dir, "gatehouse-data")
	for _, args := range [][]string{
		{"keys", "e2eeftp", "list"},
		{"admin", "backup", "clients", "--data", "./gatehouse-data"},
	} {
		code, _, errs := runCode(t, args...)
		if code == 0 || !strings.HasPrefix(errs, "gatehouse: data directory "+abs+" (no config file)\n") ||
			!strings.Contains(errs, "data directory "+abs+" does not exist") || strings.Contains(errs, "./gatehouse-data") {
			t.Errorf("%q: exit %d\n%s", args, code, errs)
		}
	}
	if err := os.Mkdir(abs, 0o750); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCode(t, "admin", "backup", "clients")
	if code == 0 || !strings.Contains(errs, "no store at "+filepath.Join(abs, "gatehouse.db")+" ") {
		t.Errorf("no store: exit %d\n%s", code, errs)
	}
}
