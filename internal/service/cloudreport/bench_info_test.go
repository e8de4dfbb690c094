package cloudreport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// BenchmarkInfoPipe is issue 19's measure (docs/performance.md,
// "cloudreport INFO"): lock-step INFO round trips of one session over an
// in-memory connection through netsvc's connection path (client and
// server in this process, so allocs/op counts both), with the registry
// cache warm ("cached") and with every lookup a store round trip
// ("store"), next to a line echo over the same path ("echo", the
// baseline). PostgreSQL runs when GATEHOUSE_TEST_PG is set.
func BenchmarkInfoPipe(b *testing.B) {
	b.Run("echo", benchEchoPipe)
	engines := []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}}
	if os.Getenv("GATEHOUSE_TEST_PG") != "" {
		engines = append(engines, struct {
			name string
			open func(testing.TB) *store.DB
		}{"postgres", storetest.Postgres})
	}
	for _, e := range engines {
		b.Run(e.name+"/cached", func(b *testing.B) { benchInfoPipe(b, e.open(b), true) })
		b.Run(e.name+"/store", func(b *testing.B) { benchInfoPipe(b, e.open(b), false) })
	}
}

func benchInfoPipe(b *testing.B, db *store.DB, cached bool) {
	err := db.CloudreportAddClient(context.Background(), store.CloudreportClient{
		ID: "0000abcd", Name: "bench", Enabled: true, Expires: time.Now().AddDate(1, 0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(DefaultConfig(), Env{Registry: db})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	if !cached {
		benchNoCache(srv)
	}
	conn, _ := netsvctest.Pipe(b, srv, netsvctest.DefaultLimits)
	c := NewClient(conn, ClientOptions{Timeout: 10 * time.Second})
	if _, err := c.Init(2); err != nil {
		b.Fatal(err)
	}
	req := Fields{{"ID", "0000abcd"}, {"HS", "BENCHHOST"}}
	if _, err := c.Info(req); err != nil { // the cache warms here
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuClock()
	for b.Loop() {
		if _, err := c.Info(req); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// echoHandler answers every line with itself, as a request of netsvc.
type echoHandler struct{}

func (echoHandler) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		_, done := c.Request(ctx, "ECHO")
		_, err = c.Write(line)
		done(netsvc.StatusOK)
		if err != nil {
			return err
		}
	}
}

func benchEchoPipe(b *testing.B) {
	conn, _ := netsvctest.Pipe(b, echoHandler{}, netsvctest.DefaultLimits)
	line := []byte(strings.Repeat("x", 63) + "\n")
	buf := make([]byte, len(line))
	br := bufio.NewReader(conn)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuClock()
	defer reportCPU(b, cpu)
	for b.Loop() {
		if _, err := conn.Write(line); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// benchNoCache makes every lookup of s a store round trip.
func benchNoCache(s *Server) {
	s.cache.mu.Lock()
	s.cache.disabled = true
	s.cache.mu.Unlock()
}
