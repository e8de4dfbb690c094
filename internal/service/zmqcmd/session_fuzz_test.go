package zmqcmd

import (
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
)

// reqSession is what a pyzmq REQ socket sends on the NULL mechanism: the
// ZMTP 3.0 greeting, READY with Socket-Type REQ, then each request as an
// empty delimiter frame and the JSON body.
func reqSession(bodies ...string) []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10], g[11] = 0xff, 0x7f, 3, 0
	copy(g[12:], "NULL")
	ready := append([]byte{5}, "READY"...)
	ready = append(ready, 11)
	ready = append(ready, "Socket-Type"...)
	ready = append(ready, 0, 0, 0, 3)
	ready = append(ready, "REQ"...)
	out := append(g, 0x04, byte(len(ready)))
	out = append(out, ready...)
	for _, b := range bodies {
		out = append(out, 0x01, 0) // delimiter, MORE
		if len(b) < 256 {
			out = append(out, 0x00, byte(len(b)))
		} else {
			n := len(b)
			out = append(out, 0x02, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		out = append(out, b...)
	}
	return out
}

// FuzzSession plays arbitrary bytes as the client's side of an in-memory
// session (netsvctest.Feed: the daemon's connection path over net.Pipe):
// it never panics nor hangs.
func FuzzSession(f *testing.F) {
	var all []string
	for _, row := range specRows {
		f.Add(reqSession(row.req))
		all = append(all, row.req)
	}
	f.Add(reqSession(all...))
	f.Add(reqSession(`{"command_type": "compute", "expression": "(6 + 4) * 8"}`)[:70])
	opts := DefaultConfig()
	opts.Allow = []string{"echo"} // builtin: no process is started
	s, err := New(opts, Env{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		netsvctest.Feed(t, s, netsvctest.PipeLimits, in, 10*time.Second)
	})
}
