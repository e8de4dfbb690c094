package backup

import (
	"bytes"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
)

// FuzzSession plays arbitrary bytes as the client's side of an in-memory
// session (netsvctest.Feed: the daemon's connection path over net.Pipe):
// the session never panics nor hangs, and any answer is a well-formed,
// version-3 frame with a protocol response code.
func FuzzSession(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	e := newEnv(f, func(c *Config) { c.MaxFileSize = 1 << 16 })
	c := e.newClient("fuzz")
	upload(f, c, "hello.txt", []byte("Hello, backup server!\n"))
	f.Add(request(c.ID, CodeList, nameField(f, "fuzz")))
	f.Add(request(c.ID, CodeRestore, RestoreRequest{Name: [NameSize]byte(nameField(f, "hello.txt"))}.Marshal()))
	f.Add(make([]byte, 10))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := netsvctest.Feed(t, e.srv, netsvctest.PipeLimits, msg, 10*time.Second)
		if len(out) == 0 {
			return
		}
		h, p, err := readResponse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("answer %x is no frame: %v", out, err)
		}
		if h.Version != ServerVersion || h.Code < RespRegistered || h.Code > RespNotFound || int(h.PayloadSize) != len(p) {
			t.Fatalf("bad frame %+v for %x", h, msg)
		}
	})
}
