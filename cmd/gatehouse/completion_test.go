package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/services"
)

// Shell completion scripts and man pages come from the same command
// definitions as the help: each shell's script names the binary, the
// completion engine offers every service under client, and a man page is
// written for every command with its flags.
func TestCompletionAndManPages(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_gatehouse", "zsh": "#compdef gatehouse", "fish": "complete -c gatehouse",
	} {
		code, out, errs := runCode(t, "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: exit %d, no %q\n%s", shell, code, marker, errs)
		}
	}
	// What the scripts call while the user types: 'gatehouse client <TAB>'.
	code, out, errs := runCode(t, "__complete", "client", "")
	if code != 0 {
		t.Fatalf("__complete: exit %d\n%s", code, errs)
	}
	for _, n := range services.Names() {
		if !strings.Contains(out, n) {
			t.Errorf("client <TAB> does not offer %s:\n%s", n, out)
		}
	}
	code, out, _ = runCode(t, "__complete", "client", "e2eeftp", "get", "--a")
	if code != 0 || !strings.Contains(out, "--addr") {
		t.Errorf("client e2eeftp get --a<TAB> does not offer --addr:\n%s", out)
	}

	dir := t.TempDir()
	if code, out, errs := runCode(t, "man", dir); code != 0 {
		t.Fatalf("man: exit %d\n%s%s", code, out, errs)
	}
	for _, page := range []string{"gatehouse.1", "gatehouse-serve.1", "gatehouse-client-e2eeftp-get.1", "gatehouse-keys-e2eeftp-add-client.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Errorf("man page %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(b), ".TH \"GATEHOUSE\"") {
			t.Errorf("%s is not a man page:\n%.300s", page, b)
		}
		if page == "gatehouse-client-e2eeftp-get.1" && !strings.Contains(string(b), "addr") {
			t.Errorf("%s does not document --addr", page)
		}
	}
}
