// Package bench measures Gatehouse's services against the machine's own
// limits: every figure is taken next to a baseline measured in the same run
// (raw loopback TCP echo and stream, in-process AES), and printed as a ratio
// to it, so numbers from a noisy shared box still mean something.
//
// The daemon runs as a child process (`gatehouse serve`, one service, a
// throw-away data directory, loopback ports) so its CPU time and peak RSS
// can be read from /proc; the load comes from the services' own Go clients
// in this process. Everything is bounded in time and count.
package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/services"
)

// Extra targets beside the services.
const (
	TargetSFTP = "sftp" // OpenSSH sftp peer for the transfer services
	TargetIdle = "idle" // Options.IdleConns idle clock sessions (default 10,000)
)

// Options shape a run.
type Options struct {
	Targets   []string      // service names, "sftp", "idle"; see Resolve
	Exe       string        // gatehouse binary run as the daemon child
	EchoExe   string        // binary whose `bench -serve-echo` runs the echo limit; "" in-process
	Scratch   string        // throw-away directory (data dirs, transfer files)
	Duration  time.Duration // per request/response figure
	Clients   []int         // client counts for request/response figures
	Size      int64         // transfer file size
	IdleConns int           // idle clock sessions to open (default DefaultIdleConns; the goal is 100,000)
	// IdleSources is how many loopback source addresses (127.0.0.2, …)
	// the idle sessions are spread over; 0 picks enough for IdleConns
	// (one per three quarters of the ephemeral port range).
	IdleSources int
	// IdleProbes is how many new clients are timed while the idle sessions
	// are open; 0 means DefaultIdleProbes.
	IdleProbes int
	SFTPCiph   string // sftp -c cipher; "" is OpenSSH's default
	Rounds     int    // interleaved echo/service rounds per figure (default 1)
	// SkipSecure leaves out the rows measured on the secure side doors
	// (each TCP service's tls_listen, zmqcmd's curve_listen); by default
	// they are measured next to their plain rows.
	SkipSecure bool
	InProcess  bool     // run the daemon in this process (for CPU profiles), not as a child
	Backends   Backends // the daemon's store and blob store; zero: SQLite and local files
	Quick      bool
	Log        io.Writer // progress lines; nil discards
}

// Defaults for a full run and for -quick.
const (
	DefaultDuration  = 3 * time.Second
	DefaultSize      = 1 << 30
	DefaultIdleConns = 10000
	QuickDuration    = 500 * time.Millisecond
	QuickSize        = 16 << 20
	QuickIdleConns   = 500
)

// Resolve expands "all" and the implied extras: a transfer service brings
// the sftp peer, clock brings the idle-connection test.
func Resolve(args []string) ([]string, error) {
	known := append(services.Names(), TargetSFTP, TargetIdle)
	var out []string
	add := func(n string) {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, a := range args {
		switch {
		case a == "all":
			for _, n := range known {
				add(n)
			}
		case slices.Contains(known, a):
			add(a)
			switch a {
			case "e2eeftp", "backup":
				add(TargetSFTP)
			case "clock":
				add(TargetIdle)
			}
		default:
			return nil, fmt.Errorf("unknown service %q (want one of %s or all)", a, strings.Join(known, ", "))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("name a service or all")
	}
	// Canonical order: services first, then the peer, then the scale test.
	sort.SliceStable(out, func(i, j int) bool { return slices.Index(known, out[i]) < slices.Index(known, out[j]) })
	return out, nil
}

// Env is what a service driver gets.
type Env struct {
	Opts    Options
	Scratch string // this driver's own scratch folder

	sh *shared
}

// shared is what the drivers of one run have in common.
type shared struct {
	logMu   sync.Mutex
	srcOnce sync.Once
	src     sourceFile
}

// Logf prints one progress line.
func (e *Env) Logf(format string, args ...any) {
	if e.Opts.Log == nil {
		return
	}
	e.sh.logMu.Lock()
	defer e.sh.logMu.Unlock()
	fmt.Fprintf(e.Opts.Log, "bench: "+format+"\n", args...)
}

// StartDaemon runs the daemon child for service in a fresh data folder.
func (e *Env) StartDaemon(ctx context.Context, service string, sets ...string) (*Daemon, error) {
	dir, err := e.NewDataDir()
	if err != nil {
		return nil, err
	}
	return e.StartDaemonAt(ctx, service, dir, sets...)
}

// StartDaemonAt runs the daemon for service on a data folder the driver
// prepared (keys, registry rows). With Opts.InProcess it runs inside this
// process (profiling) instead of as a child.
func (e *Env) StartDaemonAt(ctx context.Context, service, dir string, sets ...string) (*Daemon, error) {
	if e.Opts.InProcess {
		return StartInProcessOn(ctx, service, dir, e.Opts.Backends, sets...)
	}
	return StartDaemonOn(ctx, e.Opts.Exe, service, dir, e.Opts.Backends, sets...)
}

// NewDataDir makes a fresh data folder, for drivers that put keys in it
// before the daemon starts (then StartDaemonAt).
func (e *Env) NewDataDir() (string, error) {
	return os.MkdirTemp(e.Scratch, "data-")
}

type sourceFile struct {
	path string
	sum  [32]byte
	err  error
}

// Source returns the path and SHA-256 of a file of Opts.Size random bytes,
// shared by every transfer figure of the run (made once).
func (e *Env) Source() (string, [32]byte, error) {
	sh := e.sh
	sh.srcOnce.Do(func() {
		sh.src.path = filepath.Join(e.Opts.Scratch, "transfer.bin")
		e.Logf("writing a %s random transfer file", humanBytes(e.Opts.Size))
		sh.src.sum, sh.src.err = writeRandom(sh.src.path, e.Opts.Size)
	})
	return sh.src.path, sh.src.sum, sh.src.err
}

func writeRandom(path string, size int64) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Create(path)
	if err != nil {
		return sum, err
	}
	var seed [32]byte
	copy(seed[:], fmt.Sprint(time.Now().UnixNano()))
	rng := rand.NewChaCha8(seed)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int(min(int64(len(buf)), left))
		rng.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return sum, err
		}
		left -= int64(n)
	}
	if err := f.Close(); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// FileSHA256 hashes a file (to check a transfer arrived intact).
func FileSHA256(path string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Driver measures one target and returns its figures. A driver returns an
// error only when it could measure nothing; partial trouble goes into a
// figure's Note.
type Driver func(ctx context.Context, e *Env) ([]Figure, error)

// drivers are the targets' drivers: one per service of the list (a test
// checks), plus the sftp peer and the idle-connection test.
var drivers = map[string]Driver{
	"cloudreport": benchCloudreport,
	"backup":      benchBackup,
	"clock":       benchClock,
	"e2eeftp":     benchE2EEFTP,
	"zmqcmd":      benchZMQCmd,
	TargetSFTP:    benchSFTP,
	TargetIdle:    benchIdle,
}

func driver(name string) (Driver, bool) {
	d, ok := drivers[name]
	return d, ok
}

// Run takes the baselines, then every target's figures, and fills in the
// ratios and targets.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if len(o.Clients) == 0 {
		o.Clients = []int{1, 8}
	}
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.IdleConns <= 0 {
		o.IdleConns = DefaultIdleConns
	}
	if o.Scratch == "" {
		return nil, errors.New("bench: no scratch directory")
	}
	r := &Report{Started: time.Now(), Host: HostInfo(), Settings: Settings{
		Services: o.Targets, Duration: o.Duration.String(), Clients: o.Clients,
		SizeBytes: o.Size, IdleConns: o.IdleConns, Rounds: max(o.Rounds, 1), Quick: o.Quick}}
	r.Settings.Store, r.Settings.Blob = o.Backends.Describe()
	r.Settings.LogLevel = o.Backends.logLevel()
	env := &Env{Opts: o, Scratch: o.Scratch, sh: &shared{}}

	env.Logf("baselines: echo round trip, echo with a connection per request, tcp stream, ciphers (%s each), public-key primitives", o.Duration)
	var conns []Figure
	for _, n := range o.Clients {
		f, c, err := measureEchoLimits(ctx, o.EchoExe, n, o.Duration, true)
		if err != nil {
			return nil, fmt.Errorf("echo baseline: %w", err)
		}
		r.Figures = append(r.Figures, f)
		conns = append(conns, c)
	}
	r.Figures = append(r.Figures, conns...)
	f, err := TCPStreamBaseline(ctx, o.Duration)
	if err != nil {
		return nil, fmt.Errorf("tcp stream baseline: %w", err)
	}
	r.Figures = append(r.Figures, f)
	r.Figures = append(r.Figures, CipherBaselines(ctx, o.Duration)...)
	prims, err := PrimitiveBaselines(ctx, min(o.Duration, time.Second))
	if err != nil {
		return nil, fmt.Errorf("public-key baselines: %w", err)
	}
	r.Figures = append(r.Figures, prims...)

	for _, t := range o.Targets {
		if ctx.Err() != nil {
			break
		}
		d, ok := driver(t)
		if !ok {
			r.Figures = append(r.Figures, Figure{Section: sectionOf(t), Name: t, Service: t,
				Note: "not available: no driver (the service's Go client was not there when the harness was built)"})
			continue
		}
		sub := &Env{Opts: o, Scratch: filepath.Join(o.Scratch, t), sh: env.sh}
		if err := os.MkdirAll(sub.Scratch, 0o750); err != nil {
			return nil, err
		}
		env.Logf("%s …", t)
		figs, err := d(ctx, sub)
		if err != nil {
			note := "failed: " + err.Error()
			if errors.Is(err, ErrNotBuilt) {
				note = err.Error()
			}
			figs = append(figs, Figure{Section: sectionOf(t), Name: t, Service: t, Note: note})
			env.Logf("%s: %v", t, err)
		}
		r.Figures = append(r.Figures, figs...)
		os.RemoveAll(sub.Scratch)
	}
	r.applyRatios()
	r.applyPrimitives()
	r.applyConnLimit()
	r.applyPlain()
	r.placeSecure()
	applyTargets(r, o)
	r.Finished = time.Now()
	return r, ctx.Err()
}

func sectionOf(target string) string {
	switch target {
	case TargetSFTP:
		return SectionPeer
	case TargetIdle:
		return SectionScale
	}
	return SectionService
}

// The targets (docs/performance.md): request/response figures at the
// largest client count against the echo round trip; cloudreport INFO has
// its own, higher goal; figures whose request does public-key work (one
// connection and handshake per request) are judged by their CPU over
// those primitives instead; transfers against the cipher bound and sftp.
const (
	rrTarget        = 0.70 // of the echo round-trip rate at the same client count
	infoTarget      = 0.85 // cloudreport INFO, of the echo round-trip rate
	primitiveTarget = 2.0  // daemon CPU per request over its public-key primitives
	transferTarget  = 0.80 // of the in-process cipher bound
	sftpTarget      = 1.5  // of the sftp peer's rate, same direction
	transferRSSMiB  = 64
	idleKiBPerConn  = 8 // at 100,000 sessions
)

// applyTargets sets Target and Met on each figure the issue sets a goal for.
func applyTargets(r *Report, o Options) {
	maxClients := slices.Max(o.Clients)
	sftp := map[string]float64{}
	for _, f := range r.Figures {
		if f.Section == SectionPeer && f.MBps > 0 {
			sftp[f.Kind] = f.MBps
		}
	}
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.Skipped() || f.Transport != "" {
			// The targets are for the plain protocols; a secure
			// row is judged against its plain row (vs plain).
			continue
		}
		switch f.Kind {
		case "rr":
			switch {
			case f.Clients != maxClients:
			case f.CPUxPrimitives > 0:
				f.Target = fmt.Sprintf("CPU ≤ %.0f× primitives", primitiveTarget)
				met := f.CPUxPrimitives <= primitiveTarget
				f.Met = &met
			case f.Ratio > 0:
				goal := rrTarget
				if f.Name == "cloudreport INFO" {
					goal = infoTarget
				}
				f.Target = fmt.Sprintf("≥ %.0f%% of echo", goal*100)
				met := f.Ratio >= goal
				f.Met = &met
			}
		case "upload", "download":
			if f.Section != SectionService {
				continue
			}
			f.Target = fmt.Sprintf("≥ %.0f%% of cipher, ≥ %.1f× sftp, RSS < %d MiB", transferTarget*100, sftpTarget, transferRSSMiB)
			met := f.Ratio >= transferTarget && f.PeakRSSMiB > 0 && f.PeakRSSMiB < transferRSSMiB
			if s, ok := sftp[f.Kind]; ok {
				met = met && f.MBps >= sftpTarget*s
				f.Note = strings.TrimSpace(fmt.Sprintf("%s %.2f× sftp %s", f.Note, f.MBps/s, f.Kind))
			} else {
				met = false
				f.Note = strings.TrimSpace(f.Note + " (no sftp figure to compare)")
			}
			f.Met = &met
		case "idle":
			f.Target = fmt.Sprintf("%d conns at < %d KiB each", o.IdleConns, idleKiBPerConn)
			met := f.Ops >= int64(o.IdleConns) && f.RSSPerConnKiB > 0 && f.RSSPerConnKiB < idleKiBPerConn &&
				f.Errors == 0
			f.Met = &met
		case "newclient":
			f.Target = fmt.Sprintf("p99 < %d ms", NewClientTargetMs)
			met := f.Errors == 0 && f.Ops > 0 && f.P99ms < NewClientTargetMs
			f.Met = &met
		}
	}
}

// WriteResults writes results.json, results.txt and chart.svg into a new
// time-stamped folder under dir and returns the folder.
func WriteResults(r *Report, dir string) (string, error) {
	out := filepath.Join(dir, r.Started.Format("20060102-150405"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	for name, write := range map[string]func(io.Writer) error{
		"results.json": r.WriteJSON, "results.txt": r.WriteTable, "chart.svg": r.WriteSVG,
	} {
		if err := writeFileAtomic(filepath.Join(out, name), write); err != nil {
			return "", err
		}
	}
	return out, nil
}

// writeFileAtomic writes through a temporary file and renames it, so a
// crash never leaves half a result file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// MeasureRR takes name's request/response figures on d at every client
// count. Each round runs the echo baseline and then the service at the same
// count and duration, Opts.Rounds times interleaved, so a busy neighbour
// slows both alike; the echo totals become the figure's limit.
func (e *Env) MeasureRR(ctx context.Context, d *Daemon, name string, open Opener) ([]Figure, error) {
	return e.measureRR(ctx, d, name, open, false)
}

// MeasureRRPerConn is MeasureRR for a protocol that opens a connection
// per request (open's requests connect, ask and close): each round runs
// the echo round trip, then the echo with a connection per request on the
// same echo server, then the service, and the figure gets both limits.
func (e *Env) MeasureRRPerConn(ctx context.Context, d *Daemon, name string, open Opener) ([]Figure, error) {
	return e.measureRR(ctx, d, name, open, true)
}

func (e *Env) measureRR(ctx context.Context, d *Daemon, name string, open Opener, perConn bool) ([]Figure, error) {
	rounds := max(e.Opts.Rounds, 1)
	limits := "echo"
	if perConn {
		limits = "echo, echo with a connection per request"
	}
	var figs []Figure
	for _, n := range e.Opts.Clients {
		e.Logf("%s ×%d: %d round(s) of %s, then service, %s each", name, n, rounds, limits, e.Opts.Duration)
		// The daemon is idle while the echo runs, so its CPU over all
		// rounds belongs to the service's requests. A nil d (tests)
		// measures the client side only.
		var m *Meter
		svc := ""
		if d != nil {
			var err error
			if m, err = d.Measure(); err != nil {
				return figs, err
			}
			svc = d.Service
		}
		var echoOps, connOps, ops, errs int64
		var echoEl, connEl, el time.Duration
		var echoCPU, connCPU float64
		var p50s, p99s []time.Duration
		var firstErr error
		for range rounds {
			echo, conn, err := measureEchoLimits(ctx, e.Opts.EchoExe, n, e.Opts.Duration, perConn)
			if err != nil {
				return figs, err
			}
			echoOps += echo.Ops
			echoCPU += echo.ServerCPUSec
			echoEl += time.Duration(echo.Seconds * float64(time.Second))
			connOps += conn.Ops
			connCPU += conn.ServerCPUSec
			connEl += time.Duration(conn.Seconds * float64(time.Second))
			r, err := ClosedLoop(ctx, n, e.Opts.Duration, open)
			if r.Ops == 0 {
				if err == nil {
					err = r.FirstErr
				}
				if err == nil {
					err = errors.New("no request completed")
				}
				return figs, fmt.Errorf("%s ×%d: %w", name, n, err)
			}
			ops, errs, el = ops+r.Ops, errs+r.Errors, el+r.Elapsed
			p50s, p99s = append(p50s, r.P50), append(p99s, r.P99)
			if firstErr == nil {
				firstErr = r.FirstErr
			}
		}
		p50, _ := percentiles(p50s)
		p99, _ := percentiles(p99s)
		f := loadFigure(SectionService, name, svc, LoadResult{Clients: n, Ops: ops, Errors: errs,
			Elapsed: el, P50: p50, P99: p99, FirstErr: firstErr})
		f.Kind, f.Limit = "rr", EchoName(n)
		f.LimitRate = float64(echoOps) / echoEl.Seconds()
		if echoCPU > 0 && echoOps > 0 {
			f.LimitCPUPerReqUs = echoCPU * 1e6 / float64(echoOps)
		}
		if perConn {
			f.ConnLimit = EchoConnName(n)
			if connEl > 0 {
				f.ConnLimitRate = float64(connOps) / connEl.Seconds()
			}
			if connCPU > 0 && connOps > 0 {
				f.ConnLimitCPUPerReqUs = connCPU * 1e6 / float64(connOps)
			}
		}
		if m != nil {
			if err := m.Done(&f); err != nil {
				return figs, err
			}
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// MeasureTransfer times one transfer of Opts.Size bytes by fn on d, right
// after a run of the limit cipher baseline (its paired limit). fn returns
// an error when the transfer failed or its content did not check out.
func (e *Env) MeasureTransfer(ctx context.Context, d *Daemon, name, kind, limit string, fn func(ctx context.Context) error) (Figure, error) {
	lim, err := CipherBaseline(ctx, limit, min(e.Opts.Duration, time.Second))
	if err != nil {
		return Figure{}, err
	}
	e.Logf("%s: %s of %s", name, kind, humanBytes(e.Opts.Size))
	m, err := d.Measure()
	if err != nil {
		return Figure{}, err
	}
	self0, serr := ReadProc(os.Getpid())
	t0 := time.Now()
	err = fn(ctx)
	el := time.Since(t0)
	self1, serr2 := ReadProc(os.Getpid())
	f := Figure{Section: SectionService, Name: name, Service: d.Service, Kind: kind, Clients: 1,
		Ops: 1, Bytes: e.Opts.Size, Seconds: el.Seconds(), MBps: float64(e.Opts.Size) / el.Seconds() / 1e6,
		Limit: limit, LimitRate: lim.MBps, LimitCPUPerMiBms: lim.CPUPerMiBms}
	if err != nil {
		return Figure{Section: SectionService, Name: name, Service: d.Service, Kind: kind,
			Note: "failed: " + err.Error()}, nil
	}
	if err := m.Done(&f); err != nil {
		return f, err
	}
	if serr == nil && serr2 == nil && !e.Opts.InProcess {
		// The harness process is the client: its CPU next to the server's
		// and the wall time shows whether either side was saturated.
		f.Note = joinNote(fmt.Sprintf("client CPU %.2fs, server CPU %.2fs, wall %.2fs",
			(self1.CPU-self0.CPU).Seconds(), f.ServerCPUSec, el.Seconds()), f.Note)
	}
	return f, nil
}

// TransferTimeout is a generous bound for one transfer of size bytes
// (10 MB/s would be far below anything seen on loopback).
func TransferTimeout(size int64) time.Duration {
	return 60*time.Second + time.Duration(size/10e6)*time.Second
}
