package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/blob"
	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Deps is what a service gets from the daemon. A service uses only the
// shared parts named here, never another service.
type Deps struct {
	Config   *config.Config
	Store    *store.DB
	Blob     blob.Store // names are already scoped to the service ("<name>/…" underneath)
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Listen is the address the daemon will bind for the service. A factory
	// may change it, e.g. to honour a legacy port file, but should only do
	// so when ListenFromConfig is false: an operator's explicit address wins.
	Listen           string
	ListenFromConfig bool
	// Commands and RateLimited, when the factory sets them, are the
	// service's request names (the values it passes to Conn.Request) and
	// the "what" values it passes to Conn.RateLimited: their series exist
	// at zero from start-up, so an alert sees the first event.
	Commands    []string
	RateLimited []string
	name        string
}

// Dir returns the service's own folder in the data directory
// (<data>/<service>), creating it 0750.
func (d *Deps) Dir() (string, error) {
	p := filepath.Join(d.Config.DataDir, d.name)
	if err := os.MkdirAll(p, 0o750); err != nil {
		return "", err
	}
	return p, nil
}

// Factory builds a service's handler from the daemon's shared parts. The
// returned io.Closer-like cleanup (may be nil) runs after the listeners have
// drained.
type Factory func(d *Deps) (h netsvc.Handler, cleanup func(), err error)

var (
	regMu     sync.Mutex
	factories = map[string]Factory{}
)

// Register adds a service's factory; each service's svc_<name>.go calls it
// from init. The name must be one of config.ServiceNames().
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := factories[name]; dup {
		panic(fmt.Sprintf("daemon: service %s registered twice", name))
	}
	factories[name] = f
}

func factory(name string) (Factory, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	f, ok := factories[name]
	return f, ok
}

// Registered reports whether the named service is built into this binary.
func Registered(name string) bool {
	_, ok := factory(name)
	return ok
}
