package main

import (
	"strings"
	"testing"

	"gatehouse/internal/buildinfo"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	got := versionLine(buildinfo.Info{Version: "v1.2.0", Revision: "8c7fd24", Time: "2026-12-04T20:14:41Z",
		Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"})
	want := "gatehouse v1.2.0 (rev 8c7fd24, 2026-12-04T20:14:41Z, modified) go1.26.8 linux/amd64"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	if got := versionLine(buildinfo.Info{Version: "dev", GoVersion: "go1.26.8", Platform: "linux/amd64"}); got != "gatehouse dev go1.26.8 linux/amd64" {
		t.Fatalf("without VCS: %q", got)
	}
	// The command prints the line of the running build.
	code, out, _ := runCode(t, "version")
	ok := code == 0
	if !ok || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, " go1.") {
		t.Fatalf("gatehouse version: %q", out)
	}
}
