package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/bench"
)

func TestBenchParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1GiB": 1 << 30, "64MiB": 64 << 20, "512 KiB": 512 << 10,
		"10MB": 10e6, "1000": 1000, "7B": 7} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "1TiB", "65GiB", "lots"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestBenchUsageAndBadArgs(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCode(t, "bench", "-h")
	if out := stdout + stderr; code != 0 || !strings.Contains(out, "examples:") || !strings.Contains(out, "-quick") {
		t.Fatalf("bench -h: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"bench"}, {"bench", "nosuch"}, {"bench", "-clients", "0", "clock"},
		{"bench", "-size", "huge", "clock"}, {"bench", "-rounds", "99", "clock"},
		{"bench", "--idle-sources", "-1", "idle"}, {"bench", "--idle-probes", "-2", "idle"}} {
		if code, stdout, stderr := runCode(t, args...); code == 0 {
			t.Errorf("%v succeeded:\n%s%s", args, stdout, stderr)
		}
	}
}

// A real, tiny run: the daemon child, the echo child, the clock driver and
// the idle test, JSON on stdout and the three result files on disk. bench
// runs in process; its two children must be separate processes (it
// measures their CPU time and memory), so this is the one test that builds
// the gatehouse binary (without -race: it is the measured server, not the
// code under test) and hands it over with -exe.
func TestBenchQuickClockRun(t *testing.T) {
	// The build starts before t.Parallel pauses this test, so it runs
	// while the package's sequential tests do, not after them.
	exe := filepath.Join(t.TempDir(), "gatehouse")
	var buildOut bytes.Buffer
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Stdout, build.Stderr = &buildOut, &buildOut
	if err := build.Start(); err != nil {
		t.Fatalf("building gatehouse: %v", err)
	}
	t.Cleanup(func() { build.Wait() }) // on an early failure too: the temp dir must outlive it
	t.Parallel()
	if err := build.Wait(); err != nil {
		t.Fatalf("building gatehouse: %v\n%s", err, buildOut.String())
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench", "-exe", exe, "-quick", "-d", "200ms", "-idle", "50", "-json", "-out", out, "clock"}, bufEnv(&stdout, &stderr)); code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, stderr.String())
	}
	var r bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	var clock, idle int
	for _, f := range r.Figures {
		switch f.Name {
		case "clock TIME":
			clock++
			if f.Ops == 0 || f.Errors != 0 || f.Ratio <= 0 || f.ServerCPUSec < 0 || f.PeakRSSMiB <= 0 {
				t.Errorf("clock figure: %+v", f)
			}
		case "clock idle sessions":
			idle++
			if f.Ops != 50 || f.RSSPerConnKiB <= 0 || !strings.Contains(f.Note, "new client was served") {
				t.Errorf("idle figure: %+v", f)
			}
		}
	}
	if clock != 2 || idle != 1 {
		t.Fatalf("want 2 clock figures and 1 idle figure, got %d and %d:\n%s", clock, idle, stdout.String())
	}
	dirs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(dirs) != 1 {
		t.Fatalf("result folders: %v", dirs)
	}
	for _, name := range []string{"results.json", "results.txt", "chart.svg"} {
		if st, err := os.Stat(filepath.Join(dirs[0], name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
}
