package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReadAndCollector(t *testing.T) {
	i := Read("v9.9.9")
	if i.Version != "v9.9.9" || i.GoVersion != runtime.Version() || !strings.Contains(i.Platform, "/") {
		t.Fatalf("info %+v", i)
	}
	if d := Read(""); d.Version == "" {
		t.Fatal("empty version without an override")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector(i))
	want := `# HELP gatehouse_build_info The running build: version, VCS revision, Go version (value always 1).
# TYPE gatehouse_build_info gauge
gatehouse_build_info{goversion="` + runtime.Version() + `",revision="` + i.Revision + `",version="v9.9.9"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gatehouse_build_info"); err != nil {
		t.Fatal(err)
	}
}
