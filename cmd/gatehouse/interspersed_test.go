package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every client subcommand takes its flags after its arguments too, in GNU
// (--addr) and single-dash (-addr) spelling, against the real daemon with
// every service: a flag that was dropped would send the client to the
// default port, where nothing listens.
func TestInterspersedFlagsOnEveryClient(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, addrs, _, _ := startServe(t, "--data", data)
	work := t.TempDir()
	if _, errs, ok := runCmd(t, work, "keys", "e2eeftp", "add-client", "--out", filepath.Join(work, "id"), "--data", data); !ok {
		t.Fatalf("add-client: %s", errs)
	}
	key, srvKey := filepath.Join(work, "id", "client_id.key"), filepath.Join(work, "id", "known_server.pub")
	if err := os.WriteFile(filepath.Join(work, "a.txt"), []byte("interspersed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e2e := []string{"--key", key, "--server-key", srvKey, "-q"}
	cases := []struct {
		args []string
		out  string // in stdout
	}{
		{[]string{"client", "zmqcmd", "compute", "6*7", "--addr", addrs["zmqcmd"]}, "42\n"},
		{[]string{"client", "zmqcmd", "os", "echo", "-n", "hi", "-addr", addrs["zmqcmd"]}, "hi"},
		{[]string{"client", "clock", "date", "--addr", addrs["clock"], "--timeout", "10s"}, "-"},
		{[]string{"client", "cloudreport", "--id", "2", "--object", "00003e3b", "--errl", "", "--addr", addrs["cloudreport"]}, "PING  ok"},
		{append([]string{"client", "e2eeftp", "send", "a.txt", "--addr", addrs["e2eeftp"]}, e2e...), "226"},
		{append([]string{"client", "e2eeftp", "list", "-addr", addrs["e2eeftp"]}, e2e...), "a.txt"},
		{append([]string{"client", "e2eeftp", "get", "a.txt", "-o", "got.txt", "--addr", addrs["e2eeftp"]}, e2e...), "200 saved got.txt"},
		{append([]string{"client", "e2eeftp", "help", "--addr", addrs["e2eeftp"]}, e2e...), "supports: "},
		{append([]string{"client", "e2eeftp", "delete", "a.txt", "--addr", addrs["e2eeftp"]}, e2e...), "File deleted"},
		{[]string{"client", "backup", "--name", "inter", "--file", "a.txt", "--dir", work, "--addr", addrs["backup"], "--quiet"}, "backed up a.txt"},
		{[]string{"client", "backup", "list", "--dir", work, "--addr", addrs["backup"]}, "a.txt"},
		{[]string{"client", "backup", "restore", "a.txt", "-o", "back.txt", "--dir", work, "--addr", addrs["backup"], "-q"}, "restored a.txt"},
		// The earlier spelling of the backup address.
		{[]string{"client", "backup", "list", "--dir", work, "--server", addrs["backup"]}, "a.txt"},
	}
	for _, tc := range cases {
		code, out, errs := runCode(t, tc.args...)
		if code != 0 || !strings.Contains(out, tc.out) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errs)
		}
	}
	for _, f := range []string{"got.txt", "back.txt"} {
		if b, err := os.ReadFile(filepath.Join(work, f)); err != nil || string(b) != "interspersed\n" {
			t.Errorf("%s: %q %v", f, b, err)
		}
	}
}
