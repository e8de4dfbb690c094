package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/config"
)

// fakeRlimit is a process's RLIMIT_NOFILE for raiseNoFile; raising the
// hard limit works only with capSysResource.
type fakeRlimit struct {
	rl             syscall.Rlimit
	capSysResource bool
	sets           []syscall.Rlimit
}

func (f *fakeRlimit) get(_ int, rl *syscall.Rlimit) error { *rl = f.rl; return nil }
func (f *fakeRlimit) set(_ int, rl *syscall.Rlimit) error {
	f.sets = append(f.sets, *rl)
	if rl.Cur > rl.Max || (rl.Max > f.rl.Max && !f.capSysResource) {
		return syscall.EPERM
	}
	f.rl = *rl
	return nil
}

func TestRaiseNoFile(t *testing.T) {
	t.Parallel()
	// Hard limit high enough: soft goes up to the hard limit, not just to
	// what is wanted.
	f := &fakeRlimit{rl: syscall.Rlimit{Cur: 1024, Max: 1 << 20}}
	n := raiseNoFile(100512, f.get, f.set)
	if n.Soft != 1<<20 || n.Hard != 1<<20 || n.Short() != 0 || n.Err != nil {
		t.Fatalf("soft→hard: %+v (sets %v)", n, f.sets)
	}
	// Hard limit too low, no CAP_SYS_RESOURCE: soft → hard, and the
	// shortfall is reported with its size.
	f = &fakeRlimit{rl: syscall.Rlimit{Cur: 1024, Max: 20000}}
	n = raiseNoFile(100512, f.get, f.set)
	if n.Soft != 20000 || n.Hard != 20000 || n.Short() != 80512 || n.Err != nil {
		t.Fatalf("low hard limit: %+v (sets %v)", n, f.sets)
	}
	if s := n.String(); !strings.Contains(s, "80512 short of the 100512 wanted") {
		t.Fatalf("String() = %q", s)
	}
	// With CAP_SYS_RESOURCE the hard limit is raised to what is wanted.
	f = &fakeRlimit{rl: syscall.Rlimit{Cur: 1024, Max: 20000}, capSysResource: true}
	n = raiseNoFile(100512, f.get, f.set)
	if n.Soft != 100512 || n.Hard != 100512 || n.Short() != 0 {
		t.Fatalf("root: %+v (sets %v)", n, f.sets)
	}
	// Never lowered.
	f = &fakeRlimit{rl: syscall.Rlimit{Cur: 500000, Max: 600000}}
	if n = raiseNoFile(1000, f.get, f.set); n.Soft != 600000 || n.Hard != 600000 {
		t.Fatalf("lowered: %+v", n)
	}
	// A failing getrlimit is an error, not a zero limit taken for enough.
	n = raiseNoFile(10, func(int, *syscall.Rlimit) error { return errors.New("boom") }, f.set)
	if n.Err == nil || n.Short() != 10 {
		t.Fatalf("getrlimit error: %+v", n)
	}

	// This process: the soft limit ends at the hard limit.
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	n = RaiseNoFile(64)
	if n.Err != nil || n.Short() != 0 || n.Soft != n.Hard || n.Hard < before.Max {
		t.Fatalf("this process: %+v (before %+v)", n, before)
	}
}

func TestSourceAddrsAndCount(t *testing.T) {
	t.Parallel()
	a, err := SourceAddrs(3)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
	if len(a) != 3 || a[0] != want[0] || a[1] != want[1] || a[2] != want[2] {
		t.Fatalf("SourceAddrs(3) = %v", a)
	}
	if a, err := SourceAddrs(maxIdleSources); err != nil || a[len(a)-1] != netip.MustParseAddr("127.0.0.254") {
		t.Fatalf("SourceAddrs(max) = …%v, %v", a[len(a)-1:], err)
	}
	for _, k := range []int{0, -1, maxIdleSources + 1} {
		if _, err := SourceAddrs(k); err == nil {
			t.Errorf("SourceAddrs(%d) accepted", k)
		}
	}
	// Linux's default range: 28232 ports, 21174 used per address.
	for _, c := range []struct{ n, ports, want int }{
		{10000, 28232, 1}, {21174, 28232, 1}, {21175, 28232, 2}, {100000, 28232, 5}, {0, 28232, 1}, {5, 1, 5},
	} {
		if got := IdleSourceCount(c.n, c.ports); got != c.want {
			t.Errorf("IdleSourceCount(%d, %d) = %d, want %d", c.n, c.ports, got, c.want)
		}
	}
	for in, want := range map[string]int{"32768\t60999\n": 28232, "1024 65535": 64512,
		"": defaultEphemeralPorts, "9 1": defaultEphemeralPorts, "a b": defaultEphemeralPorts} {
		if got := parsePortRange(in); got != want {
			t.Errorf("parsePortRange(%q) = %d, want %d", in, got, want)
		}
	}
}

// Connections through a SpreadDialer arrive from its source addresses in
// turn, as the server sees them.
func TestSpreadDialer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srcs, err := SourceAddrs(3)
	if err != nil {
		t.Fatal(err)
	}
	sd := &SpreadDialer{Sources: srcs, Timeout: 5 * time.Second}
	ctx := context.Background()
	seen := map[netip.Addr]int{}
	for i := range 7 {
		c, err := sd.Dial(ctx, i, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		from := s.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if from != sd.Source(i) || from != srcs[i%3] {
			t.Fatalf("connection %d from %v, want %v", i, from, srcs[i%3])
		}
		seen[from]++
	}
	if len(seen) != 3 || seen[srcs[0]] != 3 || seen[srcs[1]] != 2 || seen[srcs[2]] != 2 {
		t.Fatalf("spread %v", seen)
	}
}

// The daemon settings of the idle test lift clock's max_conns (default
// 16384) above the sessions and probes, and are valid keys.
func TestIdleDaemonSets(t *testing.T) {
	t.Parallel()
	for _, n := range []int{10, 100000} {
		cfg := config.Default()
		for _, kv := range idleDaemonSets(n, 100) {
			k, v, _ := strings.Cut(kv, "=")
			if err := cfg.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		if c := cfg.Services.Clock; c.MaxConns < n+100+1 || c.MaxConnsPerIP != 0 || c.IdleTimeout < time.Minute {
			t.Fatalf("n=%d: max_conns %d, per ip %d, idle %v", n, c.MaxConns, c.MaxConnsPerIP, c.IdleTimeout)
		}
	}
	if idleFDs(100000, false) != 100512 || idleFDs(100000, true) != 200512 {
		t.Fatal("idleFDs")
	}
}

// A small real idle run (daemon in this process): the sessions come from
// the asked source addresses, the new-client row has its percentiles and
// target, and both show in the table and the JSON.
func TestIdleRun(t *testing.T) {
	t.Parallel()
	r, err := Run(context.Background(), Options{
		Targets: []string{TargetIdle}, Scratch: t.TempDir(), Duration: 50 * time.Millisecond,
		Clients: []int{1}, Size: 1 << 20, IdleConns: 60, IdleSources: 3, IdleProbes: 7, InProcess: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var idle, probe *Figure
	for i, f := range r.Figures {
		switch f.Kind {
		case "idle":
			idle = &r.Figures[i]
		case "newclient":
			probe = &r.Figures[i]
		}
	}
	if idle == nil || probe == nil {
		t.Fatalf("figures %+v", r.Figures)
	}
	d := idle.Idle
	if idle.Ops != 60 || idle.Errors != 0 || d == nil || d.Asked != 60 || d.Opened != 60 || d.SourceAddrs != 3 ||
		d.NoFileSoft == 0 || d.NoFileShort != 0 || idle.Met == nil || !strings.Contains(idle.Note, "a new client was served in") {
		t.Fatalf("idle row %+v detail %+v", idle, d)
	}
	if probe.Ops != 7 || probe.Errors != 0 || probe.P50ms <= 0 || probe.P99ms < probe.P50ms || probe.Met == nil ||
		probe.Target != "p99 < 5 ms" || d.NewClientP99ms != probe.P99ms || d.NewClientsServed != 7 {
		t.Fatalf("new-client row %+v detail %+v", probe, d)
	}
	var tb, jb bytes.Buffer
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"clock idle sessions", "clock new client, 60 idle open", "p99 < 5 ms", "3 source address(es)"} {
		if !strings.Contains(tb.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, tb.String())
		}
	}
	if err := r.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Figures []struct {
			Kind string         `json:"kind"`
			Idle map[string]any `json:"idle"`
		} `json:"figures"`
	}
	if err := json.Unmarshal(jb.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range back.Figures {
		if f.Kind == "idle" || f.Kind == "newclient" {
			for _, k := range []string{"source_addresses", "rlimit_nofile_short", "rlimit_nofile_hard", "new_client_p99_ms"} {
				if _, ok := f.Idle[k]; !ok {
					t.Fatalf("%s row's JSON lacks idle.%s: %v", f.Kind, k, f.Idle)
				}
			}
			found++
		}
	}
	if found != 2 {
		t.Fatalf("%d idle rows in the JSON", found)
	}
}
