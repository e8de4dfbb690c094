package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// Secure rows get their ratios to the plain row of the same client count,
// move right after their plain figure, and carry no target of their own.
func TestSecureRowsCompareAndPlace(t *testing.T) {
	t.Parallel()
	r := &Report{Figures: []Figure{
		{Section: SectionService, Name: "svc A", Kind: "rr", Clients: 1, Ops: 1, ReqPerSec: 100, CPUPerReqUs: 10},
		{Section: SectionService, Name: "svc A", Kind: "rr", Clients: 8, Ops: 1, ReqPerSec: 400, CPUPerReqUs: 5, Ratio: 0.9},
		{Section: SectionService, Name: "svc B", Kind: "upload", Clients: 1, Bytes: 1, MBps: 200, CPUPerMiBms: 2},
		{Section: SectionService, Name: "svc A (TLS)", Kind: "rr", Clients: 1, Ops: 1, ReqPerSec: 50, CPUPerReqUs: 15, Transport: TransportTLS, Plain: "svc A"},
		{Section: SectionService, Name: "svc A (TLS)", Kind: "rr", Clients: 8, Ops: 1, ReqPerSec: 300, CPUPerReqUs: 10, Transport: TransportTLS, Plain: "svc A", Ratio: 0.1},
		{Section: SectionService, Name: "svc B (TLS)", Kind: "upload", Clients: 1, Bytes: 1, MBps: 100, CPUPerMiBms: 3, Transport: TransportTLS, Plain: "svc B"},
		{Section: SectionService, Name: "orphan (CURVE)", Kind: "rr", Clients: 1, Ops: 1, ReqPerSec: 1, Transport: TransportCURVE, Plain: "none"},
	}}
	r.applyPlain()
	r.placeSecure()
	applyTargets(r, Options{Clients: []int{1, 8}})
	var order []string
	for _, f := range r.Figures {
		order = append(order, f.Name)
	}
	want := "svc A|svc A|svc A (TLS)|svc A (TLS)|svc B|svc B (TLS)|orphan (CURVE)"
	if got := strings.Join(order, "|"); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	for _, c := range []struct {
		i            int
		ratio, cpuX  float64
		targetExpect bool
	}{{0, 0, 0, false}, {1, 0, 0, true}, {2, 0.5, 1.5, false}, {3, 0.75, 2, false}, {5, 0.5, 1.5, false}, {6, 0, 0, false}} {
		f := r.Figures[c.i]
		if math.Abs(f.PlainRatio-c.ratio) > 1e-9 || math.Abs(f.PlainCPURatio-c.cpuX) > 1e-9 {
			t.Errorf("%s ×%d: vs plain %v, CPU %v; want %v, %v", f.Name, f.Clients, f.PlainRatio, f.PlainCPURatio, c.ratio, c.cpuX)
		}
		if (f.Target != "") != c.targetExpect {
			t.Errorf("%s ×%d: target %q", f.Name, f.Clients, f.Target)
		}
	}
	var tb bytes.Buffer
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "vs plain") || !strings.Contains(tb.String(), "75%, CPU 2.00×") {
		t.Fatalf("table lacks the vs plain column:\n%s", tb.String())
	}
	var jb bytes.Buffer
	if err := r.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"transport": "tls"`, `"plain": "svc A"`, `"ratio_to_plain": 0.75`, `"cpu_x_plain": 2`} {
		if !strings.Contains(jb.String(), k) {
			t.Fatalf("JSON lacks %s", k)
		}
	}
}

// A real run of clock and zmqcmd (daemon in this process) measures the
// TLS and CURVE rows next to the plain ones; SkipSecure leaves them out.
func TestSecureRowsRun(t *testing.T) {
	t.Parallel()
	run := func(skip bool) *Report {
		r, err := Run(context.Background(), Options{
			Targets: []string{"clock", "zmqcmd"}, Scratch: t.TempDir(), Duration: 100 * time.Millisecond,
			Clients: []int{1}, Size: 1 << 20, IdleConns: 5, IdleProbes: 2, InProcess: true, SkipSecure: skip,
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run(false)
	var names []string
	for _, f := range r.Figures {
		if f.Section != SectionService {
			continue
		}
		names = append(names, f.Name)
		if f.Skipped() || f.Errors != 0 || strings.HasPrefix(f.Note, "failed") {
			t.Fatalf("%s: %+v", f.Name, f)
		}
		if f.Transport != "" && (f.PlainRatio <= 0 || f.PlainCPURatio <= 0 || f.Ratio <= 0) {
			t.Fatalf("%s not compared with its plain row: %+v", f.Name, f)
		}
	}
	want := "clock TIME|clock TIME (TLS)|zmqcmd compute|zmqcmd compute (CURVE)"
	if got := strings.Join(names, "|"); got != want {
		t.Fatalf("service rows %s, want %s", got, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"transport":"curve"`)) || !bytes.Contains(b, []byte(`"transport":"tls"`)) {
		t.Fatalf("JSON lacks the transports")
	}

	for _, f := range run(true).Figures {
		if f.Transport != "" || strings.Contains(f.Name, "(TLS)") || strings.Contains(f.Name, "(CURVE)") {
			t.Fatalf("SkipSecure still measured %s", f.Name)
		}
	}
}
