package services_test

// A sixth service that exists only in this test: an echo protocol. It is
// what docs/architecture.md "Adding a service" asks for and nothing else:
// its folder (here, the code below: Config, DefaultConfig, Validate,
// Build and the session), one list entry and one config field. The daemon
// serves it, with its own limits, metrics, /healthz line, background work
// and release, without any other change.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/services"
	"gatehouse/internal/svckit"
)

// --- the service's folder --------------------------------------------------

// echoConfig is the service's [services.echo] section.
type echoConfig struct {
	svckit.Common
	Prefix string `toml:"prefix"`

	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

func echoDefaultConfig() echoConfig {
	return echoConfig{Common: svckit.DefaultCommon(), Prefix: "echo: "}
}

func (c echoConfig) Validate() error {
	if len(c.Prefix) > 64 {
		return errors.New("echo: prefix longer than 64 bytes")
	}
	return nil
}

// echoServer answers every line with the prefix and the line.
type echoServer struct {
	prefix   string
	running  chan struct{} // closed when Run starts
	released atomic.Bool
}

func echoBuild(c echoConfig, d *svckit.Deps) (*echoServer, error) {
	d.Commands = []string{"ECHO"}
	return &echoServer{prefix: c.Prefix, running: make(chan struct{})}, nil
}

func (s *echoServer) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	r := bufio.NewReaderSize(io.LimitReader(c, 1<<10), 1<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		_, done := c.Request(ctx, "ECHO")
		_, err = io.WriteString(c, s.prefix+line)
		done("ok")
		if err != nil {
			return err
		}
	}
}

// Run is the service's background work (svckit.Runner).
func (s *echoServer) Run(ctx context.Context) error {
	close(s.running)
	<-ctx.Done()
	return nil
}

// Close is its release (io.Closer).
func (s *echoServer) Close() error {
	s.released.Store(true)
	return nil
}

// --- the one config field ---------------------------------------------------

// echoDaemonConfig is the daemon's config with the echo's field: in the
// product, the field goes into config.Services. It is decoded from the
// same TOML as the real sections.
type echoDaemonConfig struct {
	Services struct {
		Echo echoConfig `toml:"echo"`
	} `toml:"services"`
}

// --- the one list entry -----------------------------------------------------

// echoEntry is the entry; built (test only) receives the server built.
func echoEntry(ec *echoDaemonConfig, built **echoServer) services.Service {
	return services.Service{Name: "echo", DefaultPort: 7,
		Common:   func(*config.Config) *config.Common { return &ec.Services.Echo.Common },
		Validate: func(*config.Config) error { return ec.Services.Echo.Validate() },
		Build: func(_ *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			s, err := echoBuild(ec.Services.Echo, d)
			*built = s
			return s, err
		}}
}

// ----------------------------------------------------------------------------

func TestSixthServiceServedFromTheList(t *testing.T) {
	t.Parallel()
	var ec echoDaemonConfig
	ec.Services.Echo = echoDefaultConfig()
	if _, err := toml.Decode("[services.echo]\nlisten = \"127.0.0.1:0\"\nprefix = \"sixth: \"\nidle_timeout = \"2m\"\n", &ec); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	for _, s := range services.All {
		s.Common(cfg).Enabled = false
	}
	var srv *echoServer
	list := append(append([]services.Service(nil), services.All...), echoEntry(&ec, &srv))
	d, err := daemon.StartList(context.Background(), cfg, slog.New(slog.DiscardHandler), list)
	if err != nil {
		t.Fatal(err)
	}
	var stop sync.Once
	shutdown := func() { stop.Do(func() { d.Shutdown() }) }
	t.Cleanup(shutdown)
	if ec.Services.Echo.IdleTimeout != 2*time.Minute {
		t.Fatalf("idle_timeout %v", ec.Services.Echo.IdleTimeout)
	}

	c, err := net.DialTimeout("tcp", d.Server.Addr("echo").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "sixth: hello\n" {
		t.Fatalf("echo: %q %v", line, err)
	}

	mfs, err := d.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series bool
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				series = series || (lp.GetName() == "service" && lp.GetValue() == "echo")
			}
		}
	}
	if !series {
		t.Fatal("no gatehouse_requests_total series for the echo service")
	}
	if h := d.Server.Healthy(); !h["echo"] {
		t.Fatalf("healthy: %v", h)
	}

	// Its Validate runs with the daemon's validation.
	bad := ec
	bad.Services.Echo.Prefix = strings.Repeat("x", 65)
	var unused *echoServer
	if _, err := daemon.StartList(context.Background(), cfg, slog.New(slog.DiscardHandler),
		append(append([]services.Service(nil), services.All...), echoEntry(&bad, &unused))); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("invalid echo section: %v", err)
	}

	c.Close()
	select {
	case <-srv.running:
	case <-time.After(5 * time.Second):
		t.Fatal("Run was not started")
	}
	shutdown()
	if !srv.released.Load() {
		t.Fatal("Close was not called at shutdown")
	}
}
