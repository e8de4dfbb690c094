package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Names of the baseline figures other figures are compared with.
const (
	BaseTCP        = "tcp stream"
	BaseAES128Enc  = "aes-128-cbc encrypt"
	BaseAES128Dec  = "aes-128-cbc decrypt"
	BaseAES256Seal = "aes-256-cbc+hmac-sha256 seal"
	BaseAES256Open = "aes-256-cbc+hmac-sha256 open"
)

// EchoName is the name of the echo baseline at n clients.
func EchoName(n int) string {
	return fmt.Sprintf("tcp echo round trip ×%d", n)
}

// EchoConnName is the name of the connection-per-request echo limit at n
// clients: connect, one 64-byte round trip, close.
func EchoConnName(n int) string {
	return fmt.Sprintf("tcp echo, connection per request ×%d", n)
}

// echoSize is the request and reply size of the echo baseline: small, like
// the request/response services' messages.
const echoSize = 64

// EchoServer is a raw Go TCP echo server on a loopback port: the cheapest
// possible request/response server, so the limit for the real ones.
type EchoServer struct {
	ln    net.Listener
	once  bool // close after the first reply (StartConnEcho)
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// StartEcho listens on 127.0.0.1:0 and echoes fixed 64-byte messages.
func StartEcho() (*EchoServer, error) { return startEcho(false) }

// StartConnEcho is StartEcho for one request per connection: it answers
// the first 64-byte message and closes, as the daemon does after the answer
// of a one-connection-per-request protocol, so the connection's TIME_WAIT
// lands on the server's side as it does for the daemon's, and not on the
// client's ephemeral ports.
func StartConnEcho() (*EchoServer, error) { return startEcho(true) }

func startEcho(once bool) (*EchoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &EchoServer{ln: ln, once: once, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				var buf [echoSize]byte
				for {
					if _, err := io.ReadFull(c, buf[:]); err != nil {
						return
					}
					if _, err := c.Write(buf[:]); err != nil || s.once {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

// Addr is the listening address.
func (s *EchoServer) Addr() string { return s.ln.Addr().String() }

// Close stops the listener and every connection and waits for them.
func (s *EchoServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// echoOnce is one echo request on c: write req, read len(req) bytes into
// resp, check they are req.
func echoOnce(c net.Conn, req, resp []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	if !bytes.Equal(resp, req) {
		return errors.New("echo: reply differs from request")
	}
	return nil
}

// EchoOpener returns clients of the echo server at addr.
func EchoOpener(addr string) Opener {
	return func(ctx context.Context, i int) (Op, func(), error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		req := bytes.Repeat([]byte{byte('a' + i%26)}, echoSize)
		var resp [echoSize]byte
		op := func() error {
			return echoOnce(c, req, resp[:])
		}
		return op, func() { c.Close() }, nil
	}
}

// EchoConnOpener returns clients of the echo server at addr that open a
// connection for every request: connect, write 64 bytes, read and check the
// 64-byte reply, close. It is the cheapest request a protocol with one
// connection per request can make (against StartConnEcho's server, which
// closes first, like the daemon). The closer closes the connection in
// flight, if any, and makes later requests fail.
func EchoConnOpener(addr string) Opener {
	return func(ctx context.Context, i int) (Op, func(), error) {
		req := bytes.Repeat([]byte{byte('a' + i%26)}, echoSize)
		var resp [echoSize]byte
		var mu sync.Mutex
		var cur net.Conn
		closed := false
		var d net.Dialer
		op := func() error {
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return net.ErrClosed
			}
			cur = c
			mu.Unlock()
			defer func() {
				mu.Lock()
				cur = nil
				mu.Unlock()
				c.Close()
			}()
			return echoOnce(c, req, resp[:])
		}
		closeFn := func() {
			mu.Lock()
			defer mu.Unlock()
			closed = true
			if cur != nil {
				cur.Close()
			}
		}
		return op, closeFn, nil
	}
}

// EchoBaseline measures the echo round-trip rate at the given client count.
func EchoBaseline(ctx context.Context, clients int, dur time.Duration) (Figure, error) {
	f, _, err := echoLimits(ctx, "", clients, dur, false)
	return f, err
}

// Notes of the echo limit figures.
const (
	echoNoteInProc   = "64 B request, 64 B reply, in-process Go server"
	echoNoteChild    = "64 B request, 64 B reply, Go server in a child process like the daemon"
	echoConnNoteInPr = "connect, 64 B request, 64 B reply, close; in-process Go server, closes after the reply"
	echoConnNote     = "connect, 64 B request, 64 B reply, close; the same Go server child as the round trip, closes after the reply"
	// An echo child from a binary older than the connection echo (bench
	// --exe with an old daemon) has no listener that closes after the
	// reply: the round-trip listener serves the requests and waits for
	// the client's close, so the client side holds the TIME_WAIT.
	echoConnNoteOld = "connect, 64 B request, 64 B reply, close; the same Go server child as the round trip, " +
		"on its round-trip port (the --exe binary's echo child predates the connection echo): the client closes first"
)

// measureEchoLimits is echoLimits; tests replace it to check what the
// figures make of the rounds.
var measureEchoLimits = echoLimits

// echoLimits measures one round of the echo limits at clients clients, one
// after the other on one echo server: the round trip on persistent
// connections and, with perConn, a connection per request
// (EchoConnOpener). The server is `exe bench -serve-echo` in a child
// process, whose CPU per request each figure reports; with exe "" it runs
// in this process and its CPU is not measured. Without perConn, conn is
// the zero Figure.
func echoLimits(ctx context.Context, exe string, clients int, dur time.Duration, perConn bool) (echo, conn Figure, err error) {
	addr, connAddr, pid := "", "", 0
	notes := [2]string{echoNoteInProc, echoConnNoteInPr}
	if exe == "" {
		s, err := StartEcho()
		if err != nil {
			return echo, conn, err
		}
		defer s.Close()
		addr = s.Addr()
		if perConn {
			cs, err := StartConnEcho()
			if err != nil {
				return echo, conn, err
			}
			defer cs.Close()
			connAddr = cs.Addr()
		}
	} else {
		p, err := startEchoProc(ctx, exe)
		if err != nil {
			return echo, conn, err
		}
		defer p.stop()
		addr, connAddr, pid = p.addr, p.connAddr, p.cmd.Process.Pid
		notes = [2]string{echoNoteChild, echoConnNote}
		if connAddr == "" {
			connAddr, notes[1] = addr, echoConnNoteOld
		}
	}
	measure := func(name, note string, open Opener) (Figure, error) {
		var before ProcSample
		var perr error
		if pid > 0 {
			before, perr = ReadProc(pid)
		}
		r, err := ClosedLoop(ctx, clients, dur, open)
		f := loadFigure(SectionBaseline, name, "", r)
		f.Note = joinNote(note, f.Note)
		if pid > 0 {
			if after, aerr := ReadProc(pid); perr == nil && aerr == nil {
				cpu := after.CPU - before.CPU
				f.ServerCPUSec = cpu.Seconds()
				if r.Ops > 0 {
					f.CPUPerReqUs = float64(cpu.Microseconds()) / float64(r.Ops)
				}
				f.PeakRSSMiB = float64(after.PeakKiB) / 1024
			}
		}
		return f, err
	}
	if echo, err = measure(EchoName(clients), notes[0], EchoOpener(addr)); err != nil || !perConn {
		return echo, conn, err
	}
	conn, err = measure(EchoConnName(clients), notes[1], EchoConnOpener(connAddr))
	if err == nil && conn.Ops == 0 {
		err = fmt.Errorf("%s: no request completed: %v", conn.Name, conn.Note)
	}
	return echo, conn, err
}

// streamChunk is the write size of the stream and cipher baselines.
const streamChunk = 64 << 10

// TCPStreamBaseline measures one loopback connection carrying 64 KiB
// writes to a reader that discards them.
func TCPStreamBaseline(ctx context.Context, dur time.Duration) (Figure, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Figure{}, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		t0 := time.Now()
		n, err := io.Copy(io.Discard, c)
		got <- result{n, time.Since(t0), err}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return Figure{}, err
	}
	buf := make([]byte, streamChunk)
	end := time.Now().Add(dur)
	for time.Now().Before(end) && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return Figure{}, err
		}
	}
	c.Close()
	var r result
	select {
	case r = <-got:
	case <-time.After(grace):
		return Figure{}, errors.New("tcp stream: reader did not finish")
	}
	if r.err != nil {
		return Figure{}, r.err
	}
	return Figure{Section: SectionBaseline, Name: BaseTCP, Clients: 1, Bytes: r.n, Seconds: r.d.Seconds(),
		MBps: float64(r.n) / r.d.Seconds() / 1e6, Note: "one connection, 64 KiB writes, reader discards"}, nil
}

// cipherLoop runs fn over a 64 KiB buffer for dur on one locked OS thread
// and reports MB per CPU-second of that thread: what one core does when
// nobody else wants it, so a busy neighbour does not lower the limit.
// Wall-clock MB/s is in the note.
func cipherLoop(ctx context.Context, name, note string, dur time.Duration, fn func(buf []byte)) Figure {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, streamChunk)
	var n int64
	cpu0, cerr := threadCPU()
	t0 := time.Now()
	for time.Since(t0) < dur && ctx.Err() == nil {
		fn(buf)
		n += int64(len(buf))
	}
	el := time.Since(t0)
	cpu1, cerr2 := threadCPU()
	f := Figure{Section: SectionBaseline, Name: name, Bytes: n, Seconds: el.Seconds(),
		MBps: float64(n) / el.Seconds() / 1e6}
	wall := f.MBps
	if cpu := cpu1 - cpu0; cerr == nil && cerr2 == nil && cpu > 0 {
		f.MBps = float64(n) / cpu.Seconds() / 1e6
		f.ServerCPUSec = cpu.Seconds()
		f.CPUPerMiBms = float64(cpu.Microseconds()) / 1000 / (float64(n) / (1 << 20))
	}
	f.Note = fmt.Sprintf("%s; per CPU-second (wall %.0f MB/s)", note, wall)
	return f
}

// threadCPU is the calling OS thread's user+system time.
func threadCPU() (time.Duration, error) {
	const rusageThread = 1 // RUSAGE_THREAD, not exported by package syscall
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// cipherBench is one in-process cipher measurement over a 64 KiB buffer.
type cipherBench struct {
	name, note string
	setup      func() func(buf []byte)
}

var cipherBenches = []cipherBench{
	{BaseAES128Enc, "one core, 64 KiB blocks (serial by construction)", func() func([]byte) {
		b, iv := aesBlock(16), make([]byte, aes.BlockSize)
		return func(buf []byte) { cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf, buf) }
	}},
	{BaseAES128Dec, "one core, 64 KiB blocks", func() func([]byte) {
		b, iv := aesBlock(16), make([]byte, aes.BlockSize)
		return func(buf []byte) { cipher.NewCBCDecrypter(b, iv).CryptBlocks(buf, buf) }
	}},
	{BaseAES256Seal, "one core: CBC encrypt then HMAC over the ciphertext", func() func([]byte) {
		b, iv := aesBlock(32), make([]byte, aes.BlockSize)
		mac := hmac.New(sha256.New, bytes.Repeat([]byte{3}, 32))
		var tag []byte
		return func(buf []byte) {
			cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf, buf)
			mac.Reset()
			mac.Write(buf)
			tag = mac.Sum(tag[:0])
		}
	}},
	{BaseAES256Open, "one core: HMAC verify then CBC decrypt", func() func([]byte) {
		b, iv := aesBlock(32), make([]byte, aes.BlockSize)
		mac := hmac.New(sha256.New, bytes.Repeat([]byte{3}, 32))
		var tag []byte
		return func(buf []byte) {
			mac.Reset()
			mac.Write(buf)
			tag = mac.Sum(tag[:0])
			cipher.NewCBCDecrypter(b, iv).CryptBlocks(buf, buf)
		}
	}},
}

func aesBlock(n int) cipher.Block {
	b, err := aes.NewCipher(bytes.Repeat([]byte{7}, n))
	if err != nil {
		panic(err) // n is 16 or 32 by construction
	}
	return b
}

// CipherBaseline measures the named cipher baseline.
func CipherBaseline(ctx context.Context, name string, dur time.Duration) (Figure, error) {
	for _, c := range cipherBenches {
		if c.name == name {
			return cipherLoop(ctx, c.name, c.note, dur, c.setup()), nil
		}
	}
	return Figure{}, fmt.Errorf("bench: no cipher baseline %q", name)
}

// CipherBaselines measures, on one core in this process, the ciphers the
// transfer services spend their CPU on: AES-128-CBC (backup) and
// AES-256-CBC with HMAC-SHA256 (e2eeftp), in both directions.
func CipherBaselines(ctx context.Context, dur time.Duration) []Figure {
	var figs []Figure
	for _, c := range cipherBenches {
		figs = append(figs, cipherLoop(ctx, c.name, c.note, dur, c.setup()))
	}
	return figs
}

// ServeEcho runs the echo servers for `gatehouse bench -serve-echo`: the
// round trip (StartEcho) and, on a second port, the one that closes after
// its reply (StartConnEcho). It prints "ECHO <addr> <conn addr>" on w and
// serves until ctx ends or stdin (the parent's pipe) closes, so it never
// outlives the harness. (Binaries before the connection echo print only
// "ECHO <addr>"; startEchoProc takes both.)
func ServeEcho(ctx context.Context, w io.Writer, stdin io.Reader) error {
	s, err := StartEcho()
	if err != nil {
		return err
	}
	defer s.Close()
	cs, err := StartConnEcho()
	if err != nil {
		return err
	}
	defer cs.Close()
	if _, err := fmt.Fprintf(w, "ECHO %s %s\n", s.Addr(), cs.Addr()); err != nil {
		return err
	}
	gone := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(gone) }()
	select {
	case <-ctx.Done():
	case <-gone:
	}
	return nil
}

// echoProc is the echo server in a child process, so the limit is
// measured with the server in its own Go runtime, exactly like the daemon.
type echoProc struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	addr     string
	connAddr string // "" from a binary that predates StartConnEcho
}

func startEchoProc(ctx context.Context, exe string) (*echoProc, error) {
	cmd := exec.Command(exe, "bench", "-serve-echo")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start echo server: %w", err)
	}
	p := &echoProc{cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(io.LimitReader(out, 4096))
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		rest, ok := strings.CutPrefix(l, "ECHO ")
		addrs := strings.Fields(rest)
		if !ok || len(addrs) < 1 || len(addrs) > 2 {
			p.stop()
			return nil, fmt.Errorf("echo server said %q", l)
		}
		p.addr = addrs[0]
		if len(addrs) == 2 {
			p.connAddr = addrs[1]
		}
		return p, nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	p.stop()
	return nil, errors.New("echo server did not start within 10 s")
}

func (p *echoProc) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// EchoBaselineExe is EchoBaseline with the server run as `exe bench
// -serve-echo`; with exe "" it runs in this process.
func EchoBaselineExe(ctx context.Context, exe string, clients int, dur time.Duration) (Figure, error) {
	f, _, err := echoLimits(ctx, exe, clients, dur, false)
	return f, err
}
