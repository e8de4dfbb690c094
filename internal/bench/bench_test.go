package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/services"
)

func TestEchoBaselineAndClosedLoop(t *testing.T) {
	ctx := context.Background()
	f, err := EchoBaseline(ctx, 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ops < 10 || f.Errors != 0 || f.Clients != 2 {
		t.Fatalf("echo: %+v", f)
	}
	if f.P50ms <= 0 || f.P99ms < f.P50ms {
		t.Fatalf("percentiles out of order: p50 %v p99 %v", f.P50ms, f.P99ms)
	}
	if got := f.ReqPerSec * f.Seconds; got < float64(f.Ops)*0.99 || got > float64(f.Ops)*1.01 {
		t.Fatalf("rate %v × %v s does not give %d ops", f.ReqPerSec, f.Seconds, f.Ops)
	}
	if f.Seconds < 0.2 || f.Seconds > 5 {
		t.Fatalf("run took %v s, want about 0.2", f.Seconds)
	}
}

// A client whose requests fail is counted, reopened once, then stopped; the
// loop still ends on time.
func TestClosedLoopCountsErrorsAndReopens(t *testing.T) {
	t.Parallel()
	var opens atomic.Int32
	boom := errors.New("boom")
	open := func(ctx context.Context, i int) (Op, func(), error) {
		opens.Add(1)
		return func() error { return boom }, func() {}, nil
	}
	r, err := ClosedLoop(context.Background(), 3, 100*time.Millisecond, open)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 0 || r.Errors != 6 || opens.Load() != 6 || !errors.Is(r.FirstErr, boom) {
		t.Fatalf("ops %d errors %d opens %d first %v", r.Ops, r.Errors, opens.Load(), r.FirstErr)
	}
}

// A request stuck past the duration is unblocked by closing its client.
func TestClosedLoopClosesStuckClients(t *testing.T) {
	t.Parallel()
	open := func(ctx context.Context, i int) (Op, func(), error) {
		stuck := make(chan struct{})
		var closed atomic.Bool
		return func() error { <-stuck; return io.ErrClosedPipe },
			func() {
				if closed.CompareAndSwap(false, true) {
					close(stuck)
				}
			}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	r, _ := ClosedLoop(ctx, 2, 100*time.Millisecond, open)
	if el := time.Since(t0); el > 3*time.Second {
		t.Fatalf("stuck clients held the loop for %v", el)
	}
	if r.Ops != 0 {
		t.Fatalf("ops %d from clients that never answered", r.Ops)
	}
}

func TestClosedLoopOpenError(t *testing.T) {
	t.Parallel()
	open := func(ctx context.Context, i int) (Op, func(), error) {
		if i == 1 {
			return nil, nil, errors.New("refused")
		}
		return func() error { return nil }, func() {}, nil
	}
	if _, err := ClosedLoop(context.Background(), 2, 50*time.Millisecond, open); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want the open error", err)
	}
}

func TestStreamAndCipherBaselines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := TCPStreamBaseline(ctx, 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bytes < streamChunk || s.MBps <= 0 {
		t.Fatalf("stream: %+v", s)
	}
	figs := CipherBaselines(ctx, 40*time.Millisecond)
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if f.Bytes < streamChunk || f.Bytes%streamChunk != 0 || f.MBps <= 0 {
			t.Fatalf("%s: %+v", f.Name, f)
		}
	}
	for _, want := range []string{BaseAES128Enc, BaseAES128Dec, BaseAES256Seal, BaseAES256Open} {
		if !slices.Contains(names, want) {
			t.Fatalf("missing %q in %v", want, names)
		}
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := percentiles(d)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Fatalf("p50 %v p99 %v", p50, p99)
	}
	if a, b := percentiles(nil); a != 0 || b != 0 {
		t.Fatal("empty input must give zeros")
	}
}

func TestReadProcSelf(t *testing.T) {
	// Burn a little CPU so the reading cannot be zero.
	end := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.RSSKiB <= 0 || s.PeakKiB < s.RSSKiB || s.Threads < 1 {
		t.Fatalf("sample %+v (x=%d)", s, x)
	}
	if err := ResetPeak(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if tr := Tree(os.Getpid()); tr[0] != os.Getpid() {
		t.Fatalf("tree %v does not start with us", tr)
	}
	// A command name with spaces and ')' must not shift the fields.
	cpu, err := parseStatCPU([]byte("42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 100 50 20 30 0 0"))
	if err != nil || cpu != 2*time.Second {
		t.Fatalf("cpu %v err %v, want 2s", cpu, err)
	}
	if _, err := parseStatCPU([]byte("42 (a) S 1")); err == nil {
		t.Fatal("short stat line accepted")
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	got, err := Resolve([]string{"clock"})
	if err != nil || !slices.Equal(got, []string{"clock", TargetIdle}) {
		t.Fatalf("clock → %v %v", got, err)
	}
	got, err = Resolve([]string{"e2eeftp", "backup"})
	if err != nil || !slices.Equal(got, []string{"backup", "e2eeftp", TargetSFTP}) {
		t.Fatalf("transfer → %v %v", got, err)
	}
	all, err := Resolve([]string{"all"})
	if err != nil || len(all) != 7 {
		t.Fatalf("all → %v %v", all, err)
	}
	if _, err := Resolve([]string{"nope"}); err == nil {
		t.Fatal("unknown name accepted")
	}
	if _, err := Resolve(nil); err == nil {
		t.Fatal("empty list accepted")
	}
}

// The writers run on a report built from a real tiny run: real baselines,
// a driver that measures the in-process echo as if it were a service, and
// a target that is not available.
func TestRunAndWriters(t *testing.T) {
	drivers["test-echo"] = func(ctx context.Context, e *Env) ([]Figure, error) {
		s, err := StartEcho()
		if err != nil {
			return nil, err
		}
		defer s.Close()
		// The echo server runs in this process: its CPU per request is
		// this process's, standing in for a daemon's.
		before, err := ReadProc(os.Getpid())
		if err != nil {
			return nil, err
		}
		figs, err := e.MeasureRR(ctx, nil, "test echo", EchoOpener(s.Addr()))
		after, perr := ReadProc(os.Getpid())
		if perr != nil {
			return nil, perr
		}
		var ops int64
		for _, f := range figs {
			ops += f.Ops
		}
		for i := range figs {
			figs[i].Primitives = PrimsE2EEFTPHandshake
			figs[i].CPUPerReqUs = float64((after.CPU - before.CPU).Microseconds()) / float64(max(ops, 1))
		}
		return figs, err
	}
	t.Cleanup(func() { delete(drivers, "test-echo") })
	dir := t.TempDir()
	var log bytes.Buffer
	r, err := Run(context.Background(), Options{
		Targets: []string{"test-echo", "no-such-service"}, Scratch: dir, Duration: 100 * time.Millisecond,
		Clients: []int{1, 2}, Size: 1 << 20, IdleConns: 10, Rounds: 2, Log: &log,
	})
	if err != nil {
		t.Fatal(err)
	}
	var svc, missing int
	prims := map[string]Figure{}
	for _, f := range r.Figures {
		if f.Section == SectionBaseline && f.Kind == "primitive" {
			prims[f.Name] = f
		}
	}
	for _, n := range []string{PrimRSAEncrypt, PrimRSADecrypt, PrimX25519, PrimEd25519Sign, PrimEd25519Verify} {
		if f, ok := prims[n]; !ok || f.Ops < 1 || f.CPUPerReqUs <= 0 || f.ReqPerSec <= 0 {
			t.Fatalf("primitive limit %q missing or empty: %+v", n, f)
		}
	}
	for _, f := range r.Figures {
		switch f.Name {
		case "test echo":
			svc++
			var want float64
			for _, p := range PrimsE2EEFTPHandshake {
				want += prims[p].CPUPerReqUs
			}
			if f.CPUPerReqUs <= 0 || f.PrimitivesCPUPerReqUs != want ||
				math.Abs(f.CPUxPrimitives-f.CPUPerReqUs/want) > 1e-9*f.CPUxPrimitives {
				t.Fatalf("CPU ×primitives: %.3f µs/req over %.3f µs of primitives gave %v: %+v",
					f.CPUPerReqUs, want, f.CPUxPrimitives, f)
			}
			if f.Ratio <= 0 || f.LimitRate <= 0 || f.Limit != EchoName(f.Clients) {
				t.Fatalf("service figure without ratio: %+v", f)
			}
			// Two rounds of 100 ms each.
			if f.Seconds < 0.2 || f.Seconds > 3 || f.Errors != 0 {
				t.Fatalf("two rounds took %v s: %+v", f.Seconds, f)
			}
			if f.Clients == 2 && (f.Met == nil || f.Target == "") {
				t.Fatalf("figure at the top client count has no target: %+v", f)
			}
			if f.Clients == 1 && f.Met != nil {
				t.Fatalf("target applied at 1 client: %+v", f)
			}
		case "no-such-service":
			missing++
			if !strings.HasPrefix(f.Note, "not available") || !f.Skipped() {
				t.Fatalf("missing driver: %+v", f)
			}
		}
	}
	if svc != 2 || missing != 1 {
		t.Fatalf("figures: %d service, %d missing", svc, missing)
	}
	if !strings.Contains(log.String(), "baselines") {
		t.Fatalf("no progress lines: %q", log.String())
	}

	out, err := WriteResults(r, filepath.Join(dir, "results"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"cpu_x_primitives":`)) {
		t.Fatal("results.json has no cpu_x_primitives field")
	}
	if len(back.Figures) != len(r.Figures) || back.Figures[0].Name != r.Figures[0].Name {
		t.Fatalf("json round trip lost figures: %d vs %d", len(back.Figures), len(r.Figures))
	}
	tb, err := os.ReadFile(filepath.Join(out, "results.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"test echo", EchoName(2), BaseAES256Seal, "not available", "% of ",
		"CPU ×primitives", PrimRSAEncrypt, PrimX25519} {
		if !strings.Contains(string(tb), want) {
			t.Fatalf("table lacks %q:\n%s", want, tb)
		}
	}
	sb, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	rects := countRects(t, sb)
	if rects != 1+2 { // background + one bar per service figure
		t.Fatalf("chart has %d rects, want 3", rects)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

func TestTargets(t *testing.T) {
	t.Parallel()
	r := &Report{Figures: []Figure{
		{Section: SectionPeer, Name: "sftp put", Kind: "upload", Bytes: 1, MBps: 100},
		{Section: SectionService, Name: "fast", Kind: "upload", Bytes: 1, MBps: 200, Ratio: 0.9, PeakRSSMiB: 20},
		{Section: SectionService, Name: "fat", Kind: "upload", Bytes: 1, MBps: 200, Ratio: 0.9, PeakRSSMiB: 100},
		{Section: SectionService, Name: "slow", Kind: "upload", Bytes: 1, MBps: 90, Ratio: 0.9, PeakRSSMiB: 20},
		{Section: SectionService, Name: "nopeer", Kind: "download", Bytes: 1, MBps: 900, Ratio: 0.9, PeakRSSMiB: 20},
		{Section: SectionService, Name: "1.4x sftp", Kind: "upload", Bytes: 1, MBps: 140, Ratio: 0.9, PeakRSSMiB: 20},
		{Section: SectionService, Name: "clock TIME", Kind: "rr", Ops: 1, Clients: 8, Ratio: 0.75},
		{Section: SectionService, Name: "cloudreport INFO", Kind: "rr", Ops: 1, Clients: 8, Ratio: 0.75},
		{Section: SectionService, Name: "e2eeftp LIST", Kind: "rr", Ops: 1, Clients: 8, Ratio: 0.02, CPUxPrimitives: 2.1},
		{Section: SectionService, Name: "backup key (1026)", Kind: "rr", Ops: 1, Clients: 8, Ratio: 0.02, CPUxPrimitives: 1.9},
		{Section: SectionService, Name: "one client", Kind: "rr", Ops: 1, Clients: 1, Ratio: 0.1},
		{Section: SectionScale, Name: "idle ok", Kind: "idle", Ops: 100, RSSPerConnKiB: 7.9},
		{Section: SectionScale, Name: "idle short", Kind: "idle", Ops: 50, RSSPerConnKiB: 7},
		{Section: SectionScale, Name: "idle fat", Kind: "idle", Ops: 100, RSSPerConnKiB: 8.1},
		{Section: SectionScale, Name: "new fast", Kind: "newclient", Ops: 100, P99ms: 4.9},
		{Section: SectionScale, Name: "new slow", Kind: "newclient", Ops: 100, P99ms: 5.1},
		{Section: SectionScale, Name: "new refused", Kind: "newclient", Ops: 99, Errors: 1, P99ms: 1},
	}}
	applyTargets(r, Options{Clients: []int{1, 8}, IdleConns: 100})
	want := map[string]bool{"fast": true, "fat": false, "slow": false, "nopeer": false, "1.4x sftp": false,
		"clock TIME": true, "cloudreport INFO": false, "e2eeftp LIST": false, "backup key (1026)": true,
		"idle ok": true, "idle short": false, "idle fat": false,
		"new fast": true, "new slow": false, "new refused": false}
	for _, f := range r.Figures {
		w, ok := want[f.Name]
		if !ok {
			continue
		}
		if f.Met == nil || *f.Met != w {
			t.Errorf("%s: met %v, want %v", f.Name, f.Met, w)
		}
	}
	for _, f := range r.Figures {
		if f.Name == "one client" && f.Met != nil {
			t.Errorf("a figure below the largest client count got a target: %s", f.Target)
		}
	}
	if targetPercent("≥ 70% of echo") != 70 || targetPercent("none") != 0 {
		t.Fatal("targetPercent")
	}
}

// The sftp peer either runs (sshd installed: a real 1 MiB put and get,
// content checked) or says exactly what to install; never silently nothing.
func TestSFTPPeer(t *testing.T) {
	dir := t.TempDir()
	e := &Env{Opts: Options{Size: 1 << 20, Scratch: dir}, Scratch: filepath.Join(dir, "sftp"), sh: &shared{}}
	if err := os.MkdirAll(e.Scratch, 0o750); err != nil {
		t.Fatal(err)
	}
	figs, err := benchSFTP(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ferr := FindSSHD(); ferr != nil {
		if len(figs) != 1 || !strings.Contains(figs[0].Note, "skipped") || !strings.Contains(figs[0].Note, "apt-get install") {
			t.Fatalf("without sshd: %+v", figs)
		}
		return
	}
	if len(figs) != 2 {
		t.Fatalf("want put and get, got %+v", figs)
	}
	for _, f := range figs {
		if f.Bytes != 1<<20 || f.MBps <= 0 || f.Errors != 0 || !strings.Contains(f.Note, "cipher ") {
			t.Fatalf("%s: %+v", f.Name, f)
		}
	}
	if tree := Tree(os.Getpid()); len(tree) != 1 {
		t.Fatalf("processes left behind: %v", tree)
	}
}

func TestFindSSHDSaysWhatToInstall(t *testing.T) {
	old := sshdPaths
	sshdPaths = []string{filepath.Join(t.TempDir(), "no-sshd")}
	t.Cleanup(func() { sshdPaths = old })
	t.Setenv("PATH", t.TempDir())
	_, _, _, err := FindSSHD()
	if err == nil || !strings.Contains(err.Error(), "apt-get install openssh-server") {
		t.Fatalf("err = %v", err)
	}
	e := &Env{Opts: Options{Size: 1 << 20, Scratch: t.TempDir()}, sh: &shared{}}
	figs, err := benchSFTP(context.Background(), e)
	if err != nil || len(figs) != 1 || !strings.HasPrefix(figs[0].Note, "skipped: sshd not found") || !figs[0].Skipped() {
		t.Fatalf("figs %+v err %v", figs, err)
	}
}

func TestStartDaemonErrors(t *testing.T) {
	t.Parallel()
	if _, err := StartDaemon(context.Background(), "", "clock", t.TempDir()); err == nil {
		t.Fatal("no binary accepted")
	}
	if _, err := StartDaemon(context.Background(), filepath.Join(t.TempDir(), "missing"), "clock", t.TempDir()); err == nil {
		t.Fatal("missing binary accepted")
	}
}

// Every driver is for a service of the list or one of the extra targets
// (a service needs no driver to be served).
func TestDriversMatchServicesList(t *testing.T) {
	t.Parallel()
	names := services.Names()
	for n := range drivers {
		if !slices.Contains(names, n) && n != TargetSFTP && n != TargetIdle {
			t.Errorf("driver %s is for no service of the list", n)
		}
	}
}

// countRects is the number of <rect> elements in a chart; it fails the test
// if the chart is not well-formed XML.
func countRects(t *testing.T, svg []byte) int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return rects
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
}
