package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The original server's bytes as measured (docs/zmqcmd.md, "Transport and
// envelopes").
const (
	goldenGreeting = "ff00000000000000017f0301" + "4e554c4c" + "00000000000000000000000000000000" + "00" +
		"00000000000000000000000000000000000000000000000000000000000000"
	goldenRouterReady = "0429" + "055245414459" + "0b536f636b65742d54797065" + "00000006" + "524f55544552" +
		"084964656e74697479" + "00000000"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenGreetingAndReady(t *testing.T) {
	if got, want := AppendGreeting(nil), mustHex(t, goldenGreeting); !bytes.Equal(got, want) {
		t.Fatalf("greeting\n got %x\nwant %x", got, want)
	}
	got := AppendReady(nil, Property{"Socket-Type", []byte("ROUTER")}, Property{"Identity", []byte{}})
	if want := mustHex(t, goldenRouterReady); !bytes.Equal(got, want) {
		t.Fatalf("ready\n got %x\nwant %x", got, want)
	}
	g, err := ParseGreeting(mustHex(t, goldenGreeting))
	if err != nil || g.Major != 3 || g.Minor != 1 || g.Mechanism != "NULL" || g.AsServer {
		t.Fatalf("parse greeting: %+v %v", g, err)
	}
}

func TestGoldenMessage(t *testing.T) {
	body := []byte(`{"command_type": "compute", "expression": "(6 + 4) * 8"}`)
	if len(body) != 0x38 {
		t.Fatalf("body is %d bytes", len(body))
	}
	var b []byte
	b = AppendFrame(b, FlagMore, nil)
	b = AppendFrame(b, 0, body)
	want := append(mustHex(t, "01000038"), body...)
	if !bytes.Equal(b, want) {
		t.Fatalf("got %x want %x", b, want)
	}
	reply := []byte(`{"status": "success", "result": 80}`)
	if got := AppendFrame(nil, 0, reply); got[1] != 0x23 || len(got) != 2+0x23 {
		t.Fatalf("reply frame header %x", got[:2])
	}
}

func TestGreetingRefusals(t *testing.T) {
	base := mustHex(t, goldenGreeting)
	cases := map[string]func(b []byte){
		"signature":   func(b []byte) { b[0] = 0xFE },
		"signature9":  func(b []byte) { b[9] = 0x7E },
		"zmtp2":       func(b []byte) { b[10] = 2 },
		"curve":       func(b []byte) { copy(b[12:32], "CURVE\x00\x00\x00") },
		"plain":       func(b []byte) { copy(b[12:32], "PLAIN") },
		"junk-pad":    func(b []byte) { b[20] = 'x' },
		"as-server-7": func(b []byte) { b[32] = 7 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			b := append([]byte(nil), base...)
			mod(b)
			if _, err := ParseGreeting(b); !errors.Is(err, ErrProtocol) {
				t.Fatalf("want protocol error, got %v", err)
			}
		})
	}
	if _, err := ParseGreeting(base[:63]); err == nil {
		t.Fatal("short greeting accepted")
	}
}

func TestReadFrameBounds(t *testing.T) {
	// A long-frame header claiming 2^40 bytes must be refused before any
	// allocation (the go-zeromq crash in docs/zmqcmd.md, "Why our own ZMTP codec").
	hdr := append([]byte{FlagLong}, binary.BigEndian.AppendUint64(nil, 1<<40)...)
	_, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(append(hdr, "xxxx"...))), 64<<10, nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1099511627776") {
		t.Fatalf("huge frame: %v", err)
	}
	// Same with 2^64-1, which would overflow an int conversion.
	hdr = append([]byte{FlagLong | FlagMore}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(hdr)), 64<<10, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("max uint64 frame: %v", err)
	}
	// A command is bounded by its own small limit even if frames may be big.
	hdr = append([]byte{FlagCommand | FlagLong}, binary.BigEndian.AppendUint64(nil, 1<<20)...)
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(hdr)), 4<<20, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big command: %v", err)
	}
	for _, bad := range [][]byte{{0x08, 0}, {0x80, 0}, {FlagCommand | FlagMore, 0}} {
		if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(bad)), 100, nil); !errors.Is(err, ErrProtocol) {
			t.Fatalf("flags %x: %v", bad[0], err)
		}
	}
	// Truncated frames are unexpected EOF, not clean EOF.
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader([]byte{0, 5, 'a'})), 100, nil); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(nil)), 100, nil); err != io.EOF {
		t.Fatalf("empty: %v", err)
	}
	// A long encoding of a short frame is legal.
	b := append([]byte{FlagLong}, binary.BigEndian.AppendUint64(nil, 3)...)
	_, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(append(b, "abc"...))), 100, nil)
	if err != nil || string(body) != "abc" {
		t.Fatalf("long short frame: %q %v", body, err)
	}
}

func TestMetadata(t *testing.T) {
	ready := AppendReady(nil, Property{"Socket-Type", []byte("REQ")}, Property{"Identity", []byte("abc")})
	_, body, err := ReadFrame(bufio.NewReader(bytes.NewReader(ready)), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	name, data, err := ParseCommand(body)
	if err != nil || name != "READY" {
		t.Fatal(name, err)
	}
	md, err := ParseMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Lookup(md, "socket-type"); !ok || string(v) != "REQ" {
		t.Fatalf("socket type %q %v", v, ok)
	}
	if v, _ := Lookup(md, "Identity"); string(v) != "abc" {
		t.Fatalf("identity %q", v)
	}
	// Value length larger than what is left.
	bad := []byte{3, 'a', 'b', 'c', 0xff, 0xff, 0xff, 0xff, 'x'}
	if _, err := ParseMetadata(bad); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying value length: %v", err)
	}
	if _, err := ParseMetadata([]byte{9, 'a'}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying name length: %v", err)
	}
	if _, _, err := ParseCommand([]byte{5, 'R'}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("lying command name: %v", err)
	}
}

// pair runs a server and a client handshake over real loopback TCP.
func pair(t *testing.T, srvOpt, cliOpt Options) (srv, cli *Conn, srvErr, cliErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		srv, srvErr = Handshake(nc, srvOpt)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	cli, cliErr = Handshake(nc, cliOpt)
	<-done
	return
}

func TestHandshakeAndMessages(t *testing.T) {
	srv, cli, se, ce := pair(t,
		Options{SocketType: "ROUTER", Identity: []byte{}, Accept: []string{"REQ", "DEALER"}},
		Options{SocketType: "REQ", Identity: []byte("me"), Accept: []string{"ROUTER", "REP"}})
	if se != nil || ce != nil {
		t.Fatal(se, ce)
	}
	if srv.PeerType != "REQ" || string(srv.PeerIdentity) != "me" || cli.PeerType != "ROUTER" || srv.Peer.Minor != 1 {
		t.Fatalf("peer info: %q %q %q", srv.PeerType, srv.PeerIdentity, cli.PeerType)
	}
	big := bytes.Repeat([]byte("z"), 300) // long frame encoding
	if err := cli.WriteMessage(nil, []byte("hello"), big); err != nil {
		t.Fatal(err)
	}
	msg, err := srv.ReadMessage()
	if err != nil || len(msg) != 3 || len(msg[0]) != 0 || string(msg[1]) != "hello" || !bytes.Equal(msg[2], big) {
		t.Fatalf("message %q %v", msg, err)
	}
	if err := srv.WriteMessage([]byte{}, []byte("world")); err != nil {
		t.Fatal(err)
	}
	msg, err = cli.ReadMessage()
	if err != nil || len(msg) != 2 || string(msg[1]) != "world" {
		t.Fatalf("reply %q %v", msg, err)
	}
}

func TestHandshakeRefusesSocketType(t *testing.T) {
	_, _, se, _ := pair(t,
		Options{SocketType: "ROUTER", Identity: []byte{}, Accept: []string{"REQ", "DEALER"}},
		Options{SocketType: "PUB"})
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), "PUB") {
		t.Fatalf("server accepted PUB: %v", se)
	}
}

func TestPingPongAndFrameLimit(t *testing.T) {
	srv, cli, se, ce := pair(t,
		Options{SocketType: "ROUTER", Accept: []string{"DEALER"}, Limits: Limits{MaxFrame: 16, MaxFrames: 3}},
		Options{SocketType: "DEALER"})
	if se != nil || ce != nil {
		t.Fatal(se, ce)
	}
	// PING with TTL 0x000a and context "ctx", then a message.
	raw := AppendCommand(nil, "PING", []byte{0, 10, 'c', 't', 'x'})
	raw = AppendFrame(raw, 0, []byte("m"))
	if _, err := cli.rw.Write(raw); err != nil {
		t.Fatal(err)
	}
	msg, err := srv.ReadMessage()
	if err != nil || len(msg) != 1 || string(msg[0]) != "m" {
		t.Fatalf("after ping: %q %v", msg, err)
	}
	flags, body, err := ReadFrame(cli.r, 100, nil)
	if err != nil || flags != FlagCommand || string(body) != "\x04PONGctx" {
		t.Fatalf("pong: %x %q %v", flags, body, err)
	}
	// Four frames where three are allowed.
	if err := cli.WriteMessage([]byte("1"), []byte("2"), []byte("3"), []byte("4")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("frame count: %v", err)
	}
}

func TestFrameSizeLimitOverConn(t *testing.T) {
	srv, cli, se, ce := pair(t,
		Options{SocketType: "ROUTER", Limits: Limits{MaxFrame: 16}},
		Options{SocketType: "DEALER"})
	if se != nil || ce != nil {
		t.Fatal(se, ce)
	}
	if err := cli.WriteMessage(bytes.Repeat([]byte("a"), 17)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: %v", err)
	}
}

// FuzzReadMessage feeds arbitrary bytes after a valid handshake; whatever
// decodes must re-encode to a stream that decodes to the same frames, and
// nothing may exceed the limits.
func FuzzReadMessage(f *testing.F) {
	f.Add(append(mustHex(f, "01000038"), `{"command_type": "compute", "expression": "(6 + 4) * 8"}`...))
	f.Add(AppendFrame(nil, 0, []byte(`{"command_type": "compute", "expression": "1+1"}`)))
	f.Add(append(AppendCommand(nil, "PING", []byte{0, 1, 'x'}), AppendFrame(nil, 0, []byte("x"))...))
	f.Add(append([]byte{FlagLong}, binary.BigEndian.AppendUint64(nil, 1<<40)...))
	f.Add([]byte{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxFrame: 1024, MaxFrames: 8}
		c := &Conn{rw: struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}, lim: lim}
		c.r = bufio.NewReader(c.rw)
		// The reusing reader must see the same messages and the same end.
		cr := &Conn{rw: struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}, lim: lim}
		cr.r = bufio.NewReader(cr.rw)
		for i := 0; i < 100; i++ {
			msg, err := c.ReadMessage()
			reused, rerr := cr.ReadMessageReuse()
			if (err == nil) != (rerr == nil) || len(msg) != len(reused) {
				t.Fatalf("ReadMessageReuse: %d frames %v, ReadMessage: %d frames %v", len(reused), rerr, len(msg), err)
			}
			if err != nil {
				return
			}
			for j := range msg {
				if !bytes.Equal(msg[j], reused[j]) {
					t.Fatalf("ReadMessageReuse frame %d = %q, ReadMessage %q", j, reused[j], msg[j])
				}
			}
			if len(msg) == 0 || len(msg) > 8 {
				t.Fatalf("%d frames", len(msg))
			}
			var enc []byte
			for j, fr := range msg {
				if len(fr) > 1024 {
					t.Fatalf("frame of %d bytes", len(fr))
				}
				fl := byte(0)
				if j < len(msg)-1 {
					fl = FlagMore
				}
				enc = AppendFrame(enc, fl, fr)
			}
			c2 := &Conn{r: bufio.NewReader(bytes.NewReader(enc)), lim: lim}
			again, err := c2.ReadMessage()
			if err != nil || len(again) != len(msg) {
				t.Fatalf("re-decode: %v", err)
			}
			for j := range msg {
				if !bytes.Equal(msg[j], again[j]) {
					t.Fatalf("frame %d differs", j)
				}
			}
		}
	})
}

// FuzzHandshake drives the server side of the handshake with arbitrary peer
// bytes: it must fail cleanly or succeed with bounded metadata.
func FuzzHandshake(f *testing.F) {
	good := append(mustHex(f, goldenGreeting), AppendReady(nil, Property{"Socket-Type", []byte("REQ")}, Property{"Identity", nil})...)
	f.Add(good)
	f.Add(mustHex(f, goldenGreeting))
	f.Add(append(mustHex(f, goldenGreeting), AppendCommand(nil, "ERROR", errorData("nope"))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		rw := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		c, err := Handshake(rw, Options{SocketType: "ROUTER", Accept: []string{"REQ", "DEALER"}})
		if err != nil {
			return
		}
		if c.PeerType != "REQ" && c.PeerType != "DEALER" {
			t.Fatalf("accepted %q", c.PeerType)
		}
		if len(c.PeerIdentity) > 255 {
			t.Fatal("identity too long")
		}
	})
}

// TestReadMessageReuse: frames come back right across messages of
// changing sizes, one frame can never grow into the next, and a steady
// stream of small messages allocates nothing.
func TestReadMessageReuse(t *testing.T) {
	var stream []byte
	msgs := [][][]byte{
		{{}, []byte("hello")},
		{{}, bytes.Repeat([]byte("x"), 300)},
		{[]byte("id"), {}, []byte("a"), []byte("bc")},
		{{}, []byte("hello")},
	}
	for _, m := range msgs {
		for i, f := range m {
			fl := byte(0)
			if i < len(m)-1 {
				fl = FlagMore
			}
			stream = AppendFrame(stream, fl, f)
		}
	}
	stream = append(stream, AppendCommand(nil, "PING", []byte{0, 1, 'p'})...)
	stream = AppendFrame(stream, 0, []byte("after ping"))
	var pong bytes.Buffer
	c := &Conn{rw: struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(stream), &pong}, lim: Limits{}}
	c.r = bufio.NewReader(c.rw)
	for k, want := range msgs {
		got, err := c.ReadMessageReuse()
		if err != nil || len(got) != len(want) {
			t.Fatalf("message %d: %q %v", k, got, err)
		}
		for j := range want {
			if !bytes.Equal(got[j], want[j]) {
				t.Fatalf("message %d frame %d = %q, want %q", k, j, got[j], want[j])
			}
		}
		if len(got) > 1 {
			_ = append(got[0], "ZZZZ"...)
			if !bytes.Equal(got[1], want[1]) {
				t.Fatalf("message %d: appending to frame 0 overwrote frame 1: %q", k, got[1])
			}
		}
	}
	got, err := c.ReadMessageReuse()
	if err != nil || len(got) != 1 || string(got[0]) != "after ping" || !bytes.Contains(pong.Bytes(), []byte("PONGp")) {
		t.Fatalf("after ping: %q %v, pong %q", got, err, pong.Bytes())
	}

	one := AppendFrame(AppendFrame(nil, FlagMore, nil), 0, []byte(`{"command_type": "compute", "expression": "1+1"}`))
	src := bytes.NewReader(nil)
	c = &Conn{rw: struct {
		io.Reader
		io.Writer
	}{src, io.Discard}}
	c.r = bufio.NewReader(c.rw)
	read := func() {
		src.Reset(one)
		c.r.Reset(src)
		if m, err := c.ReadMessageReuse(); err != nil || len(m) != 2 {
			t.Fatalf("steady read: %q %v", m, err)
		}
	}
	read()
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Errorf("ReadMessageReuse allocates %.1f times per small message", n)
	}
}
