package e2eeftp

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/cputime"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store/storetest"
)

// The LIST cost benchmarks of docs/performance.md ("e2eeftp LIST"). Run
// them in one go so the ratios compare figures from the same machine state:
//
//	go test ./internal/service/e2eeftp/ -run '^$' -bench 'ListServer|ListConn|HandshakePrimitives' -benchmem

// putFiles stores n files of 100 bytes in the shared folder (the
// original's LIST workload has ten).
func (f *fixture) putFiles(tb testing.TB, n int) {
	for i := 0; i < n; i++ {
		w, err := f.store.Create(context.Background(), sharedFolder+"file"+strconv.Itoa(100000+i)+".txt")
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(make([]byte, 100))
		if err := w.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkHandshakePrimitives is the public-key work of one server-side
// handshake and nothing else: verify the client's Ed25519 signature, draw
// an X25519 key (scalar base multiplication), the X25519 shared secret, and
// sign our ephemeral key with Ed25519. BenchmarkListConn is read against it.
func BenchmarkHandshakePrimitives(b *testing.B) {
	id := ed25519.NewKeyFromSeed(serverSeed)
	cli := ed25519.NewKeyFromSeed(clientSeed)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	h := NewHello(cli, peer.PublicKey())
	var seed [32]byte
	rand.Read(seed[:])
	b.ReportAllocs()
	start := cputime.Process()
	for b.Loop() {
		if !h.Verify() {
			b.Fatal("verify")
		}
		seed[0]++
		eph, err := ecdh.X25519().NewPrivateKey(seed[:])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eph.ECDH(peer.PublicKey()); err != nil {
			b.Fatal(err)
		}
		ed25519.Sign(id, eph.PublicKey().Bytes())
	}
	cputime.Report(b, start, 1, "cpu-ns/op")
}

// BenchmarkListServer is the server's LIST work alone (the folder's names
// as the reply's bytes), from the blob store each time (uncached) and from
// the listing cache (cached), for the original's 10 files and for 1000.
func BenchmarkListServer(b *testing.B) {
	for _, n := range []int{10, 1000} {
		f := newFixtureB(b)
		f.putFiles(b, n)
		for _, mode := range []string{"uncached", "cached"} {
			b.Run(strconv.Itoa(n)+"files/"+mode, func(b *testing.B) {
				s := f.srv
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if mode == "uncached" {
						s.lists.drop(sharedFolder)
					}
					if _, err := s.listing(ctx, sharedFolder); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkListConn is one whole LIST connection as the server sees it:
// the daemon's connection path (netsvc: limits, deadlines, metrics), the
// hellos, the replay check, LIST of 10 files, close. The client's hellos
// are made before the timer starts and the client does no crypto, so the
// figures are the server's per-connection cost, to be read against
// BenchmarkHandshakePrimitives. pipe: over net.Pipe, replay log in memory
// only; tcp: over loopback TCP; tcp-sqlite: plus the replay log in SQLite
// (one committed insert per connection).
func BenchmarkListConn(b *testing.B) {
	b.Run("pipe", func(b *testing.B) {
		f := newFixtureB(b)
		ns := netsvc.New(nil, netsvc.NewMetrics(nil))
		ns.Attach(netsvc.Service{Name: "e2eeftp", Handler: f.srv, Limits: netsvctest.DefaultLimits})
		ns.Start()
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ns.Shutdown(ctx)
		})
		benchListConn(b, f, func() (net.Conn, <-chan struct{}) {
			cli, srv := net.Pipe()
			ended, err := ns.Serve("e2eeftp", srv)
			if err != nil {
				b.Fatal(err)
			}
			return cli, ended
		})
	})
	tcp := func(b *testing.B, f *fixture) {
		benchListConn(b, f, func() (net.Conn, <-chan struct{}) {
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				b.Fatal(err)
			}
			return c, nil
		})
	}
	b.Run("tcp", func(b *testing.B) { tcp(b, newFixtureB(b)) })
	b.Run("tcp-sqlite", func(b *testing.B) {
		tcp(b, newFixtureLimits(b, netsvctest.DefaultLimits, withReplay(storetest.SQLite(b))))
	})
	// Eight clients at once, as `gatehouse bench`'s "e2eeftp LIST ×8":
	// the replay log's group commit batches concurrent hellos.
	b.Run("tcp-sqlite-8clients", func(b *testing.B) {
		db := storetest.SQLite(b)
		f := newFixtureLimits(b, netsvctest.DefaultLimits, withReplay(db))
		f.putFiles(b, 10)
		hellos := make([][]byte, b.N)
		for i := range hellos {
			hellos[i], _ = freshHello(b, f.cliID)
		}
		var next atomic.Int64
		batches0, keys0 := db.ReplayBatchStats()
		b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
		b.ReportAllocs()
		b.ResetTimer()
		start := cputime.Process()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c, err := net.Dial("tcp", f.addr)
				if err != nil {
					b.Error(err)
					return
				}
				err = listOnce(c, hellos[next.Add(1)-1])
				c.Close()
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
		cputime.Report(b, start, 1, "cpu-ns/op")
		if batches, keys := db.ReplayBatchStats(); batches > batches0 {
			b.ReportMetric(float64(keys-keys0)/float64(batches-batches0), "keys/batch")
		}
	})
}

// listOnce runs one LIST on c with a pre-made hello (the client side does
// no crypto) and checks the reply's length.
func listOnce(c net.Conn, hello []byte) error {
	var sh [HelloLen]byte
	var reply [4096]byte
	if _, err := c.Write(hello); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, sh[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "LIST\n"); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.Read(reply[n:])
		n += m
		if err != nil {
			break
		}
	}
	if want := len("200|149\n") + 149; n != want {
		return fmt.Errorf("LIST reply of %d bytes: %q", n, reply[:n])
	}
	return nil
}

func benchListConn(b *testing.B, f *fixture, dial func() (net.Conn, <-chan struct{})) {
	f.putFiles(b, 10)
	hellos := make([][]byte, b.N)
	for i := range hellos {
		hellos[i], _ = freshHello(b, f.cliID)
	}
	sh := make([]byte, HelloLen)
	reply := make([]byte, 4096)
	const want = len("200|149\n") + 149
	b.ReportAllocs()
	b.ResetTimer()
	start := cputime.Process()
	for i := 0; i < b.N; i++ {
		cli, ended := dial()
		if _, err := cli.Write(hellos[i]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(cli, sh); err != nil {
			b.Fatal(err)
		}
		if _, err := io.WriteString(cli, "LIST\n"); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := cli.Read(reply[n:])
			n += m
			if err != nil {
				break
			}
		}
		if n != want {
			b.Fatalf("LIST reply of %d bytes: %q", n, reply[:n])
		}
		cli.Close()
		if ended != nil {
			<-ended
		}
	}
	cputime.Report(b, start, 1, "cpu-ns/op")
}
