package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/services"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
)

// Daemon is `gatehouse serve` running as a child process with one service
// enabled, on loopback, with a throw-away data directory. Running it apart
// from the load generator is what makes its CPU and RSS measurable.
type Daemon struct {
	Service   string
	Addr      string // the service's listen address
	TLSAddr   string // its tls_listen address, when the bench opened one
	AdminAddr string
	DataDir   string
	cmd       *exec.Cmd
	logPath   string
	exited    chan struct{}
	waitErr   error
	inproc    *daemon.Daemon // set by StartInProcess instead of cmd
}

// ErrNotBuilt is a service the gatehouse binary does not contain yet.
var ErrNotBuilt = errors.New("not available")

// startTimeout bounds how long the daemon may take to become healthy.
const startTimeout = 20 * time.Second

// FreePort returns a loopback address with a port that was free a moment
// ago (the daemon binds it right after; a collision shows as a start error).
func FreePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartDaemon runs exe serve with only service enabled. sets are extra
// -set key=value pairs (e.g. "services.clock.max_conns=0"). The ports are
// picked free just before the start, so another process can take one in
// between; that start is retried with new ports.
func StartDaemon(ctx context.Context, exe, service, dataDir string, sets ...string) (*Daemon, error) {
	return StartDaemonOn(ctx, exe, service, dataDir, Backends{}, sets...)
}

// Backends are the metadata store and blob store the bench's daemon runs
// on, and the level it logs at; zero values are the daemon's defaults
// (SQLite and local files in its data folder) and DefaultLogLevel.
type Backends struct {
	Store    string // store.dsn, e.g. postgres://user@127.0.0.1:5432/db
	Blob     string // blob.url, e.g. s3://bucket/prefix
	LogLevel string // the daemon's -log-level; "" is DefaultLogLevel
}

// DefaultLogLevel is the bench daemon's log level: at warn no service
// writes a line per request, so the figures are the protocol's cost. The
// daemon's own default is info, where backup's handshakes, zmqcmd's
// requests and e2eeftp's transfers write one line each
// (docs/performance.md, Method).
const DefaultLogLevel = "warn"

func (b Backends) logLevel() string {
	if b.LogLevel == "" {
		return DefaultLogLevel
	}
	return b.LogLevel
}

// env is what the daemon child gets for b: the DSN and URL as
// GATEHOUSE_STORE_DSN / GATEHOUSE_BLOB_URL (not on the command line, where
// a password would show in ps), and with an S3 URL the GATEHOUSE_S3_*
// endpoint and credentials of this process, as the daemon reads them.
func (b Backends) env() []string {
	var env []string
	if b.Store != "" {
		env = append(env, config.EnvPrefix+"STORE_DSN="+b.Store)
	}
	if b.Blob != "" {
		env = append(env, config.EnvPrefix+"BLOB_URL="+b.Blob)
		if strings.HasPrefix(b.Blob, "s3://") {
			for _, kv := range os.Environ() {
				if strings.HasPrefix(kv, config.EnvPrefix+"S3_") {
					env = append(env, kv)
				}
			}
		}
	}
	return env
}

// daemonArgs is the daemon child's command line: serve on loopback with
// its data in dataDir, at b's log level, with each of sets as a -set.
func daemonArgs(dataDir string, b Backends, sets []string) []string {
	args := []string{"serve", "-data", dataDir, "-host", "127.0.0.1", "-log-level", b.logLevel()}
	for _, s := range sets {
		args = append(args, "-set", s)
	}
	return args
}

// StartDaemonOn is StartDaemon with the daemon on the backends b.
func StartDaemonOn(ctx context.Context, exe, service, dataDir string, b Backends, sets ...string) (*Daemon, error) {
	for attempt := 1; ; attempt++ {
		d, err := startDaemonOnce(ctx, exe, service, dataDir, b, sets...)
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			return d, err
		}
	}
}

func startDaemonOnce(ctx context.Context, exe, service, dataDir string, b Backends, sets ...string) (*Daemon, error) {
	if exe == "" {
		return nil, errors.New("bench: no gatehouse binary to run")
	}
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	admin, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, err
	}
	args := daemonArgs(dataDir, b, daemonSets(service, addr, admin, sets))
	d := &Daemon{Service: service, Addr: addr, AdminAddr: admin, DataDir: dataDir,
		logPath: filepath.Join(dataDir, "daemon.log"), exited: make(chan struct{})}
	logf, err := os.Create(d.logPath)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(exe, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// The child must not inherit settings meant for another daemon.
	env := os.Environ()[:0:0]
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	d.cmd.Env = append(env, b.env()...)
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s serve: %w", exe, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		logf.Close()
		close(d.exited)
	}()
	if err := d.waitHealthy(ctx); err != nil {
		d.Stop()
		tail := d.LogTail(600)
		if strings.Contains(tail, "not built into this binary") {
			return nil, fmt.Errorf("%w: %s is not registered with the daemon", ErrNotBuilt, service)
		}
		return nil, fmt.Errorf("%s daemon: %w; log: %s", service, err, tail)
	}
	return d, nil
}

func (d *Daemon) waitHealthy(ctx context.Context) error {
	cl := &http.Client{Timeout: time.Second}
	end := time.Now().Add(startTimeout)
	for time.Now().Before(end) {
		select {
		case <-d.exited:
			return fmt.Errorf("exited during start-up (%v)", d.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := cl.Get("http://" + d.AdminAddr + "/healthz")
		if err != nil {
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
	return errors.New("not healthy within " + startTimeout.String())
}

// PID is the daemon's process id (this process when it runs in-process).
func (d *Daemon) PID() int {
	if d.inproc != nil {
		return os.Getpid()
	}
	return d.cmd.Process.Pid
}

// Sample reads the daemon's CPU and memory.
func (d *Daemon) Sample() (ProcSample, error) { return ReadProc(d.PID()) }

// LogTail returns the last n bytes of the daemon's output.
func (d *Daemon) LogTail(n int64) string {
	f, err := os.Open(d.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return strings.TrimSpace(string(b))
}

// Stop sends SIGTERM, waits up to 15 s for the drain, then kills.
func (d *Daemon) Stop() error {
	if d.inproc != nil {
		return d.inproc.Shutdown()
	}
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return errors.New("daemon did not stop within 15 s; killed")
	}
}

// Meter measures the daemon over one figure: CPU used and peak RSS.
type Meter struct {
	d     *Daemon
	start ProcSample
}

// Measure resets the daemon's peak-RSS counter and takes a first reading.
func (d *Daemon) Measure() (*Meter, error) {
	if err := ResetPeak(d.PID()); err != nil {
		return nil, fmt.Errorf("reset peak RSS: %w", err)
	}
	s, err := d.Sample()
	if err != nil {
		return nil, err
	}
	return &Meter{d: d, start: s}, nil
}

// Done takes the second reading and fills the server columns of f:
// CPU seconds, CPU per request or per MiB, and peak RSS.
func (m *Meter) Done(f *Figure) error {
	s, err := m.d.Sample()
	if err != nil {
		return err
	}
	cpu := s.CPU - m.start.CPU
	f.ServerCPUSec = cpu.Seconds()
	if f.Ops > 0 && f.Bytes == 0 {
		f.CPUPerReqUs = float64(cpu.Microseconds()) / float64(f.Ops)
	}
	if f.Bytes > 0 {
		f.CPUPerMiBms = float64(cpu.Milliseconds()) / (float64(f.Bytes) / (1 << 20))
	}
	f.PeakRSSMiB = float64(s.PeakKiB) / 1024
	return nil
}

// daemonSets are the -set pairs that run service alone on addr.
func daemonSets(service, addr, admin string, extra []string) []string {
	sets := []string{"admin.listen=" + admin, "services." + service + ".listen=" + addr}
	for _, n := range services.Names() {
		if n != service {
			sets = append(sets, "services."+n+".enabled=false")
		}
	}
	return append(sets, extra...)
}

// StartInProcess runs the daemon inside this process, with the same
// configuration StartDaemon would give the child: for CPU profiles taken
// with `go test -cpuprofile` (client and server then share the profile;
// focus on ServeConn to see the server). Its CPU and RSS readings are this
// whole process's.
func StartInProcess(ctx context.Context, service, dataDir string, sets ...string) (*Daemon, error) {
	return StartInProcessOn(ctx, service, dataDir, Backends{}, sets...)
}

// StartInProcessOn is StartInProcess on the backends b (an S3 blob store
// reads this process's GATEHOUSE_S3_* variables).
func StartInProcessOn(ctx context.Context, service, dataDir string, b Backends, sets ...string) (*Daemon, error) {
	addr, err := FreePort()
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Admin.Enabled = false
	cfg.Store.DSN, cfg.Blob.URL = b.Store, b.Blob
	for _, kv := range daemonSets(service, addr, "127.0.0.1:0", sets) {
		k, v, _ := strings.Cut(kv, "=")
		if err := cfg.Set(k, v); err != nil {
			return nil, err
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dd, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		if strings.Contains(err.Error(), "not built into this binary") {
			return nil, fmt.Errorf("%w: %s is not registered with the daemon", ErrNotBuilt, service)
		}
		return nil, err
	}
	return &Daemon{Service: service, Addr: addr, DataDir: dataDir, inproc: dd}, nil
}

// Describe names the backends for a report's header, with any password in
// the DSN or URL left out.
func (b Backends) Describe() (storeName, blobName string) {
	storeName, blobName = "sqlite (data folder)", "local files (data folder)"
	if b.Store != "" {
		storeName = redactURL(b.Store)
	}
	if b.Blob != "" {
		blobName = redactURL(b.Blob)
	}
	return storeName, blobName
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		// Not a URL (a key=value DSN, a path): show its kind only.
		if strings.Contains(s, "password") {
			return "(DSN with a password, not shown)"
		}
		return s
	}
	return u.Redacted()
}
