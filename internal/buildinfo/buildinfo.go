// Package buildinfo says which build is running: the module version, the
// VCS revision and time Go stamped into the binary, the Go version and the
// platform. `gatehouse version` prints it and the daemon exports it as
// gatehouse_build_info.
package buildinfo

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// LinkVersion is set at build time with
// -ldflags "-X gatehouse/internal/buildinfo.LinkVersion=v1.2.3".
var LinkVersion = "dev"

// Current is Read(LinkVersion).
func Current() Info { return Read(LinkVersion) }

// Info describes the running binary.
type Info struct {
	Version   string // -ldflags "-X main.version=…", else the module version, else "dev"
	Revision  string // vcs.revision, when built from a checkout
	Time      string // vcs.time
	Modified  bool   // vcs.modified: built from a tree with uncommitted changes
	GoVersion string
	Platform  string
}

// Read collects Info; override is the version set at link time ("dev" or
// "" when none was).
func Read(override string) Info {
	i := Info{Version: override, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if i.Version == "" {
			i.Version = "dev"
		}
		return i
	}
	if (i.Version == "" || i.Version == "dev") && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	if i.Version == "" {
		i.Version = "dev"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// Collector is gatehouse_build_info: a constant 1 with the build's labels.
func Collector(i Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "The running build: version, VCS revision, Go version (value always 1).",
		ConstLabels: prometheus.Labels{"version": i.Version, "revision": i.Revision,
			"goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}
