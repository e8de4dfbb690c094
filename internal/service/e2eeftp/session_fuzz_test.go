package e2eeftp

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc/netsvctest"
)

// FuzzSession plays arbitrary bytes as the client's side of an in-memory
// session (netsvctest.Feed: the daemon's connection path over net.Pipe):
// it never panics nor hangs.
func FuzzSession(f *testing.F) {
	hello, err := hex.DecodeString(vClientHello)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hello)
	f.Add(hello[:70])
	f.Add(append(hello, "LIST\n"...))
	f.Add(append(hello, make([]byte, 64)...))
	f.Add([]byte("LIST\n"))
	f.Add([]byte{0, 0, 0, 0x90})
	local, err := blob.OpenLocal(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { local.Close() })
	cli := ed25519.NewKeyFromSeed(clientSeed)
	srv := newTestServer(f, ed25519.NewKeyFromSeed(serverSeed), StaticKeys{pubArray(cli): true}, blob.Prefixed(local, "e2eeftp"))
	f.Fuzz(func(t *testing.T, in []byte) {
		netsvctest.Feed(t, srv, netsvctest.PipeLimits, in, 10*time.Second)
	})
}
