package clock

import (
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
)

// FuzzSessionPipe plays arbitrary bytes as the client's side of an
// in-memory session through the daemon's connection path (netsvctest.Feed
// over net.Pipe, with its deadlines and panic recovery): it never panics
// nor hangs. FuzzSession checks the answers read by read.
func FuzzSessionPipe(f *testing.F) {
	// The original client's key and requests (docs/clock.md worked example).
	f.Add(append([]byte("169"), unhex(f, "27 1c 20 18 17 14 27 18 27 18 20 23")...))
	f.Add(append([]byte("137"), unhex(f, "11 06 0a 02 01 fe 11 02 11 02 0a 0d")...))
	f.Add([]byte("0TIMEDATE"))
	f.Add([]byte(" 169\nTIMETIME"))
	f.Add([]byte("abc"))
	s := newServer(f, DefaultConfig(), Env{})
	f.Fuzz(func(t *testing.T, in []byte) {
		netsvctest.Feed(t, s, netsvctest.PipeLimits, in, 10*time.Second)
	})
}
