package main

import (
	"bytes"
	"encoding/json"
	"math"
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
		{"bench", "--idle-sources", "-1", "idle"}, {"bench", "--idle-probes", "-2", "idle"},
		{"bench", "--log-level", "loud", "clock"}} {
		if code, stdout, stderr := runCode(t, args...); code == 0 {
			t.Errorf("%v succeeded:\n%s%s", args, stdout, stderr)
		}
	}
}

// A real, tiny --quick run: the daemon child, the echo child, the clock
// and backup drivers and the idle test, JSON on stdout and the three result
// files on disk. backup's handshake rows, one connection per request, come
// with the connection-per-request echo limit (measured in the same echo
// child, in the same rounds) and its ratios; clock's persistent rows
// without. bench
// runs in process; its two children must be separate processes (it
// measures their CPU time and memory), so this is the one test that builds
// the gatehouse binary (without -race: it is the measured server, not the
// code under test) and hands it over with -exe.
func TestBenchQuickRun(t *testing.T) {
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
	if code := run([]string{"bench", "-exe", exe, "-quick", "-d", "200ms", "-idle", "50", "-log-level", "info", "-json", "-out", out, "clock", "backup"}, bufEnv(&stdout, &stderr)); code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, stderr.String())
	}
	var r bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	if r.Settings.LogLevel != "info" {
		t.Errorf("report's daemon log level %q, want info (-log-level)", r.Settings.LogLevel)
	}
	var clock, idle, connEcho, handshake int
	for _, f := range r.Figures {
		switch f.Name {
		case "clock TIME":
			clock++
			if f.Ops == 0 || f.Errors != 0 || f.Ratio <= 0 || f.ServerCPUSec < 0 || f.PeakRSSMiB <= 0 {
				t.Errorf("clock figure: %+v", f)
			}
			if f.ConnLimit != "" || f.ConnRatio != 0 || f.CPUxConnLimit != 0 {
				t.Errorf("persistent clock figure with a connection limit: %+v", f)
			}
		case bench.EchoConnName(1), bench.EchoConnName(8):
			connEcho++
			if f.Section != bench.SectionBaseline || f.Ops == 0 || f.Errors != 0 || f.PeakRSSMiB <= 0 ||
				!strings.Contains(f.Note, "closes after the reply") {
				t.Errorf("connection echo limit: %+v", f)
			}
		case "backup register (1025)", "backup key (1026)", "backup reconnect (1027)", "backup reconnect (1027) (TLS)":
			handshake++
			// The daemon's and the echo child's CPU are read in ticks:
			// over 200 ms either may read 0, so the CPU ratio is checked
			// where both were measured.
			if f.ConnLimit != bench.EchoConnName(f.Clients) || f.ConnLimitRate <= 0 || f.ConnRatio <= 0 ||
				math.Abs(f.ConnRatio-f.ReqPerSec/f.ConnLimitRate) > 1e-9*f.ConnRatio {
				t.Errorf("%s ×%d: connection limit and ratio: %+v", f.Name, f.Clients, f)
			}
			if f.CPUPerReqUs > 0 && f.ConnLimitCPUPerReqUs > 0 &&
				math.Abs(f.CPUxConnLimit-f.CPUPerReqUs/f.ConnLimitCPUPerReqUs) > 1e-9*f.CPUxConnLimit {
				t.Errorf("%s ×%d: CPU ×conn %v from %v and %v µs", f.Name, f.Clients, f.CPUxConnLimit,
					f.CPUPerReqUs, f.ConnLimitCPUPerReqUs)
			}
			if f.Name != "backup register (1025)" && f.CPUxConnLimit > 0 {
				want := (f.CPUPerReqUs - f.ConnLimitCPUPerReqUs) / f.PrimitivesCPUPerReqUs
				if f.PrimitivesCPUPerReqUs <= 0 || math.Abs(f.CPUxPrimitivesBeyondConn-want) > 1e-9*math.Abs(want) {
					t.Errorf("%s ×%d: (CPU−conn) ×prim %v, want %v: %+v", f.Name, f.Clients, f.CPUxPrimitivesBeyondConn, want, f)
				}
			}
		case "clock idle sessions":
			idle++
			if f.Ops != 50 || f.RSSPerConnKiB <= 0 || !strings.Contains(f.Note, "new client was served") {
				t.Errorf("idle figure: %+v", f)
			}
		}
	}
	if clock != 2 || idle != 1 || connEcho != 2 || handshake != 8 {
		t.Fatalf("want 2 clock figures, 1 idle figure, 2 connection echo limits and 8 backup handshake figures, got %d, %d, %d and %d:\n%s",
			clock, idle, connEcho, handshake, stdout.String())
	}
	if !bytes.Contains(stdout.Bytes(), []byte(`"cpu_x_conn_limit":`)) {
		t.Errorf("no cpu_x_conn_limit in the JSON:\n%s", stdout.String())
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
