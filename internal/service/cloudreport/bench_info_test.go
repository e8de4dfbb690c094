package cloudreport

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/cputime"
	"gatehouse/internal/legacycrypto"
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
	cpu := cputime.Process()
	for b.Loop() {
		if _, err := c.Info(req); err != nil {
			b.Fatal(err)
		}
	}
	cputime.Report(b, cpu, 1, "cpu-ns/op")
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
	cpu := cputime.Process()
	defer cputime.Report(b, cpu, 1, "cpu-ns/op")
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

// BenchmarkInfoHandle is the server's own work for one INFO, without the
// connection: parse the request line, decrypt and inflate DATA, look the
// client up (cache warm), note it seen, build and encrypt the reply
// (docs/performance.md, "cloudreport INFO: the payload path"). "zlib9" is
// DATA as the original client sends it (zlib level 9, fixed Huffman
// codes), "stored" as this package's Client sends it (one stored block).
func BenchmarkInfoHandle(b *testing.B) {
	for _, kind := range []string{"zlib9", "stored"} {
		b.Run(kind, func(b *testing.B) {
			srv, err := New(DefaultConfig(), Env{Registry: benchStore(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { srv.Close() })
			h := &handleBench{s: srv, b: b, kind: kind, done: make(chan struct{})}
			conn, _ := netsvctest.Pipe(b, h, netsvctest.DefaultLimits)
			<-h.done
			conn.Close()
		})
	}
}

type handleBench struct {
	s    *Server
	b    *testing.B
	kind string
	done chan struct{}
}

func (h *handleBench) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	defer close(h.done)
	b := h.b
	ss := &session{s: h.s, c: c, drain: ctx.Done(), peer: "127.0.0.1"}
	defer ss.release()
	call := func(line string) []byte {
		req, ok := parseLine([]byte(line), ss.toks)
		if !ok {
			b.Fatalf("unparsed %q", line)
		}
		ss.toks = req.Tokens[:0]
		rctx, done := c.Request(ctx, metricName(req.Cmd))
		reply, status, _ := ss.handle(rctx, req)
		if ss.buf != nil {
			putCodecBuf(ss.buf)
			ss.buf = nil
		}
		done(status)
		if status != netsvc.StatusOK {
			b.Fatalf("%q: %s %q", line, status, reply)
		}
		return reply
	}
	call("INIT ID=2 DT=261205 TM=010203 HST=BENCH ATP=gatehouse AVR=1.0.0.0")
	payload := []byte("TT=Test\r\nID=0000abcd\r\nFN=Firm\r\nHS=BENCHHOST")
	var data string
	if h.kind == "stored" {
		data, _ = ss.codec.Encrypt(payload)
	} else {
		var zb bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&zb, zlib.BestCompression)
		zw.Write(payload)
		zw.Close()
		ct := legacycrypto.PKCS7Pad(zb.Bytes())
		cbcEncrypt(ss.codec.(*SeedCodec).block, ct)
		data = base64.RawStdEncoding.EncodeToString(ct)
	}
	line := "INFO DATA=" + data
	reply := string(call(line))
	d, ok := strings.CutPrefix(strings.TrimSuffix(reply, "\r\n"), "200 OK\r\nDATA=")
	if !ok {
		b.Fatalf("reply %q", reply)
	}
	p, err := ss.codec.Decrypt(d)
	if err != nil || !bytes.HasPrefix(p, []byte("TT=Test\r\nID=0000abcd\r\nEX=")) {
		b.Fatalf("reply payload %q, %v", p, err)
	}
	b.ReportAllocs()
	cpu := cputime.Process()
	for b.Loop() {
		call(line)
	}
	cputime.Report(b, cpu, 1, "cpu-ns/op")
	return nil
}
