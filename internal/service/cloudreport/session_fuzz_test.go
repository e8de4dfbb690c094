package cloudreport

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store/storetest"
)

// FuzzSession plays arbitrary bytes as the client's side of an in-memory
// session (netsvctest.Feed: the daemon's connection path over net.Pipe,
// a real SQLite registry): it never panics nor hangs.
func FuzzSession(f *testing.F) {
	f.Add([]byte(strings.Join(realFrames, "")))
	f.Add([]byte(strings.Join(realFrames[1:], "")))
	for _, fr := range realFrames {
		f.Add([]byte(realFrames[1] + fr))
	}
	srv, err := New(DefaultConfig(), Env{Registry: storetest.SQLite(f), Updates: dirUpdatesT(f, f.TempDir())})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		netsvctest.Feed(t, srv, netsvctest.PipeLimits, in, 10*time.Second)
	})
}
