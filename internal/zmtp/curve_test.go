package zmtp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// RFC 32's test vector.
func TestZ85Vector(t *testing.T) {
	raw := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	s, err := Z85Encode(raw)
	if err != nil || s != "HelloWorld" {
		t.Fatalf("encode: %q %v", s, err)
	}
	b, err := Z85Decode("HelloWorld")
	if err != nil || !bytes.Equal(b, raw) {
		t.Fatalf("decode: %x %v", b, err)
	}
	for _, bad := range []string{"Hello", "HelloWorl", "Hell\"World", "%%%%%"} {
		if _, err := Z85Decode(bad); err == nil && bad != "Hello" {
			t.Errorf("%q decoded", bad)
		}
	}
	// "%%%%%" is 85^5-1 > 2^32-1: refused, not wrapped.
	if _, err := Z85Decode("%%%%%"); err == nil {
		t.Fatal("overflowing group accepted")
	}
	if _, err := Z85Encode([]byte{1, 2, 3}); err == nil {
		t.Fatal("3 bytes encoded")
	}
	// A key pair as libzmq's curve_keygen documents it.
	pub, err := ParseKey("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID")
	if err != nil {
		t.Fatal(err)
	}
	sec, err := ParseKey("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs")
	if err != nil {
		t.Fatal(err)
	}
	if CurvePublicKey(sec) != pub {
		t.Fatal("public key of libzmq's sample secret key differs")
	}
	if KeyText(pub) != "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID" {
		t.Fatal("round trip")
	}
	if _, err := ParseKey("Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI"); !errors.Is(err, ErrKeyText) {
		t.Fatalf("39 characters: %v", err)
	}
}

type curveKeys struct{ serverPub, serverSec, clientPub, clientSec [32]byte }

func newCurveKeys(t testing.TB) curveKeys {
	t.Helper()
	var k curveKeys
	var err error
	if k.serverPub, k.serverSec, err = GenerateCurveKeyPair(); err != nil {
		t.Fatal(err)
	}
	if k.clientPub, k.clientSec, err = GenerateCurveKeyPair(); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k curveKeys) server(allow ...[32]byte) Options {
	return Options{SocketType: "ROUTER", Identity: []byte{}, Accept: []string{"REQ", "DEALER"},
		Curve: &Curve{Server: true, PublicKey: k.serverPub, SecretKey: k.serverSec,
			Authorize: func(key [32]byte) error {
				for _, a := range allow {
					if a == key {
						return nil
					}
				}
				return errors.New("not in the list")
			}}}
}

func (k curveKeys) client() Options {
	return Options{SocketType: "REQ", Identity: []byte{}, Accept: []string{"ROUTER", "REP"},
		Curve: &Curve{PublicKey: k.clientPub, SecretKey: k.clientSec, ServerKey: k.serverPub}}
}

func TestCurveGoRoundTrip(t *testing.T) {
	k := newCurveKeys(t)
	srv, cli, se, ce := cpair(t, k.server(k.clientPub), k.client())
	if se != nil || ce != nil {
		t.Fatal(se, ce)
	}
	if srv.Mechanism() != "CURVE" || cli.Mechanism() != "CURVE" || srv.PeerKey != k.clientPub || cli.PeerKey != k.serverPub {
		t.Fatalf("mechanism %s/%s, keys %x %x", srv.Mechanism(), cli.Mechanism(), srv.PeerKey, cli.PeerKey)
	}
	if srv.PeerType != "REQ" || cli.PeerType != "ROUTER" || srv.Peer.AsServer || !cli.Peer.AsServer {
		t.Fatalf("peer info: %q %q %+v %+v", srv.PeerType, cli.PeerType, srv.Peer, cli.Peer)
	}
	big := bytes.Repeat([]byte("z"), 300)
	for i := 0; i < 3; i++ {
		if err := cli.WriteMessage(nil, []byte("hello"), big); err != nil {
			t.Fatal(err)
		}
		msg, err := srv.ReadMessageReuse()
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
	// A PING inside a MESSAGE is answered with an encrypted PONG.
	if err := cli.writeCommand("PING", []byte{0, 10, 'c', 't', 'x'}); err != nil {
		t.Fatal(err)
	}
	if err := cli.WriteMessage([]byte("after ping")); err != nil {
		t.Fatal(err)
	}
	if msg, err := srv.ReadMessage(); err != nil || string(msg[0]) != "after ping" {
		t.Fatalf("%q %v", msg, err)
	}
	_, body, err := cli.readFrame(nil)
	if err != nil || string(body) != "\x04PONGctx" {
		t.Fatalf("pong %q %v", body, err)
	}
}

func TestCurveUnauthorizedKey(t *testing.T) {
	k := newCurveKeys(t)
	other := newCurveKeys(t)
	_, _, se, ce := cpair(t, k.server(other.clientPub), k.client())
	if !errors.Is(se, ErrUnauthorized) || !strings.Contains(se.Error(), KeyText(k.clientPub)) {
		t.Fatalf("server: %v", se)
	}
	if !errors.Is(ce, ErrUnauthorized) {
		t.Fatalf("client: %v", ce)
	}
}

func TestCurveWrongServerKey(t *testing.T) {
	k := newCurveKeys(t)
	cli := k.client()
	cli.Curve.ServerKey = newCurveKeys(t).serverPub
	_, _, se, ce := cpair(t, k.server(k.clientPub), cli)
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), "HELLO box") {
		t.Fatalf("server: %v", se)
	}
	if ce == nil {
		t.Fatal("client connected with the wrong server key")
	}
}

func TestCurveRefusesNullPeer(t *testing.T) {
	k := newCurveKeys(t)
	_, _, se, ce := cpair(t, k.server(k.clientPub), Options{SocketType: "REQ"})
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), `"NULL" not supported`) {
		t.Fatalf("server: %v", se)
	}
	if ce == nil {
		t.Fatal("NULL client connected to a CURVE server")
	}
}

// tapConn records what the client writes and can rewrite it.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	writes  [][]byte
	rewrite func([]byte) []byte
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	rw := c.rewrite
	c.mu.Unlock()
	if rw != nil {
		if _, err := c.Conn.Write(rw(append([]byte(nil), p...))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// cpair is curvePair without rewriting.
func cpair(t *testing.T, srvOpt, cliOpt Options) (srv, cli *Conn, srvErr, cliErr error) {
	t.Helper()
	srv, cli, _, srvErr, cliErr = curvePair(t, srvOpt, cliOpt, nil)
	return
}

// curvePair is pair (zmtp_test.go) with the client's connection wrapped in a tapConn.
func curvePair(t *testing.T, srvOpt, cliOpt Options, rewrite func([]byte) []byte) (srv, cli *Conn, tap *tapConn, srvErr, cliErr error) {
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
		if srvErr != nil {
			nc.Close() // as netsvc does when ServeConn returns
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	tap = &tapConn{Conn: nc, rewrite: rewrite}
	cli, cliErr = Handshake(tap, cliOpt)
	<-done
	return
}

// frameBody strips a short or long frame header.
func frameBody(b []byte) []byte {
	if b[0]&FlagLong != 0 {
		return b[9:]
	}
	return b[2:]
}

func TestCurveReplayAndReorderRefused(t *testing.T) {
	k := newCurveKeys(t)
	for _, tc := range []struct {
		name string
		send func(cli *Conn, tap *tapConn) error
		want string
	}{
		{"replay", func(cli *Conn, tap *tapConn) error {
			if err := cli.WriteMessage([]byte("one")); err != nil {
				return err
			}
			last := tap.writes[len(tap.writes)-1]
			_, err := tap.Conn.Write(last)
			return err
		}, "replayed or reordered"},
		{"reorder", func(cli *Conn, tap *tapConn) error {
			first, _ := cli.cur.appendMessage(nil, 0, []byte("one"))
			second, _ := cli.cur.appendMessage(nil, 0, []byte("two"))
			_, err := tap.Conn.Write(append(second, first...))
			return err
		}, "replayed or reordered"},
		{"tampered", func(cli *Conn, tap *tapConn) error {
			b, _ := cli.cur.appendMessage(nil, 0, []byte("one"))
			b[len(b)-1] ^= 1
			_, err := tap.Conn.Write(b)
			return err
		}, "does not open"},
		{"plain frame", func(cli *Conn, tap *tapConn) error {
			_, err := tap.Conn.Write(AppendFrame(nil, 0, []byte("clear text")))
			return err
		}, "expected CURVE MESSAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli, tap, se, ce := curvePair(t, k.server(k.clientPub), k.client(), nil)
			if se != nil || ce != nil {
				t.Fatal(se, ce)
			}
			if err := tc.send(cli, tap); err != nil {
				t.Fatal(err)
			}
			var err error
			for i := 0; i < 3 && err == nil; i++ {
				var msg [][]byte
				msg, err = srv.ReadMessage()
				if err == nil && string(msg[0]) != "one" && string(msg[0]) != "two" {
					t.Fatalf("unexpected %q", msg)
				}
			}
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCurveCookieBoundToConnection moves the cookie of one connection into
// another connection's INITIATE: the server must refuse it.
func TestCurveCookieBoundToConnection(t *testing.T) {
	k := newCurveKeys(t)
	var cookie []byte
	_, _, _, se, ce := curvePair(t, k.server(k.clientPub), k.client(), func(b []byte) []byte {
		if body := frameBody(b); bytes.HasPrefix(body, cmdInitiate) {
			cookie = append([]byte(nil), body[9:105]...)
		}
		return b
	})
	if se != nil || ce != nil || cookie == nil {
		t.Fatal(se, ce, cookie)
	}
	_, _, _, se, _ = curvePair(t, k.server(k.clientPub), k.client(), func(b []byte) []byte {
		if body := frameBody(b); bytes.HasPrefix(body, cmdInitiate) {
			copy(body[9:105], cookie)
		}
		return b
	})
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), "cookie") {
		t.Fatalf("server: %v", se)
	}
}

// TestCurveVouchChecked: a vouch naming another server key, or made with
// a key other than the announced C, is refused.
func TestCurveVouchChecked(t *testing.T) {
	k := newCurveKeys(t)
	other := newCurveKeys(t)
	// The client vouches for C' to another server (S in the vouch differs).
	cli := k.client()
	cli.Curve.vouchServerKey = &other.serverPub
	_, _, se, _ := cpair(t, k.server(k.clientPub), cli)
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), "vouch names other keys") {
		t.Fatalf("server: %v", se)
	}
	// The client claims an authorised key C but cannot vouch with it.
	cli = k.client()
	cli.Curve.PublicKey = other.clientPub
	_, _, se, _ = cpair(t, k.server(other.clientPub), cli)
	if !errors.Is(se, ErrProtocol) || !strings.Contains(se.Error(), "vouch does not open") {
		t.Fatalf("server: %v", se)
	}
}

// deterministic returns a reader of reproducible "random" bytes, so a
// server's short-term key and cookie key are the same on every run and
// captured client bytes replay through the whole handshake.
func deterministic() io.Reader {
	return mrand.NewChaCha8([32]byte{'g', 'a', 't', 'e', 'h', 'o', 'u', 's', 'e'})
}

// Fixed server key pair for the captured pyzmq session (testdata).
const (
	captureServerSecret = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
	captureClientSecret = "W2MTB2{$.(-${?bj:$gJ:hS@RbDatzqE/4?T)eB@"
)

// captureClientOptions is our client of the server-side capture: fixed
// long-term keys and reproducible short-term key and vouch nonce.
func captureClientOptions(t testing.TB) Options {
	srv, err := ParseKey(captureServerSecret)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := ParseKey(captureClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Options{SocketType: "REQ", Identity: []byte{}, Accept: []string{"REP", "ROUTER"},
		Limits: Limits{MaxFrame: 4096, MaxFrames: 4},
		Curve:  &Curve{PublicKey: CurvePublicKey(sec), SecretKey: sec, ServerKey: CurvePublicKey(srv), Rand: deterministic()}}
}

func captureServer(t testing.TB) Options {
	sec, err := ParseKey(captureServerSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Options{SocketType: "ROUTER", Identity: []byte{}, Accept: []string{"REQ", "DEALER"},
		Limits: Limits{MaxFrame: 4096, MaxFrames: 4},
		Curve:  &Curve{Server: true, PublicKey: CurvePublicKey(sec), SecretKey: sec, Rand: deterministic()}}
}

// readCapture reads testdata/curve_pyzmq_client.hex: what a libzmq CURVE
// REQ client sent to captureServer (greeting, HELLO, INITIATE, two
// requests), hex, one write per line.
func readCapture(t testing.TB) [][]byte { return readCaptureFile(t, "testdata/curve_pyzmq_client.hex") }

// readCaptureServer reads testdata/curve_pyzmq_server.hex: what a libzmq
// CURVE REP server sent to captureClientOptions (greeting, WELCOME, READY,
// two replies).
func readCaptureServer(t testing.TB) [][]byte {
	return readCaptureFile(t, "testdata/curve_pyzmq_server.hex")
}

func readCaptureFile(t testing.TB, name string) [][]byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range strings.Fields(string(b)) {
		raw, err := hex.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// TestCurveCaptureReplays checks the captured libzmq session replays
// through the deterministic server: HELLO, cookie, vouch, metadata and
// both MESSAGEs, then a replay of the last MESSAGE is refused.
func TestCurveCaptureReplays(t *testing.T) {
	cap := readCapture(t)
	stream := bytes.Join(cap, nil)
	msgs, err := replayServer(captureServer(t), stream)
	if err == nil || !errors.Is(err, io.EOF) || len(msgs) != 2 {
		t.Fatalf("replay: %d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if len(m) != 2 || len(m[0]) != 0 || !bytes.Contains(m[1], []byte("compute")) {
			t.Fatalf("message %q", m)
		}
	}
	last := cap[len(cap)-1]
	msgs, err = replayServer(captureServer(t), append(stream, last...))
	if len(msgs) != 2 || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replayed capture: %d messages, %v", len(msgs), err)
	}
}

// replayServer runs a server over a fixed client byte stream and returns
// the messages read until the first error.
func replayServer(o Options, stream []byte) ([][][]byte, error) {
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(stream), io.Discard}
	c, err := Handshake(rw, o)
	if err != nil {
		return nil, err
	}
	var out [][][]byte
	for i := 0; i < 64; i++ {
		m, err := c.ReadMessage()
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, fmt.Errorf("too many messages")
}

// FuzzCurveServer drives a CURVE server with arbitrary client bytes. The
// seeds are a real libzmq session (the server is deterministic, so the
// captured cookie and boxes open) and cuts and flips of it, so the fuzzer
// reaches every parser: HELLO, INITIATE, the vouch, metadata, MESSAGE.
func FuzzCurveServer(f *testing.F) {
	cap := readCapture(f)
	stream := bytes.Join(cap, nil)
	f.Add(stream)
	for i := 1; i < len(cap); i++ {
		f.Add(bytes.Join(cap[:i], nil))
	}
	for _, at := range []int{70, 200, 300, 400, len(stream) - 3} {
		if at < len(stream) {
			b := append([]byte(nil), stream...)
			b[at] ^= 0x40
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := captureServer(t)
		authorized := false
		o.Curve.Authorize = func([32]byte) error { authorized = true; return nil }
		msgs, _ := replayServer(o, data)
		if len(msgs) > 0 && !authorized {
			t.Fatal("messages without authorization")
		}
		for _, m := range msgs {
			if len(m) > 4 {
				t.Fatal("frame limit")
			}
			for _, fr := range m {
				if len(fr) > 4096 {
					t.Fatal("frame size limit")
				}
			}
		}
	})
}

// TestCurveCaptureServerReplays: the libzmq server's bytes replay through
// our deterministic client (WELCOME and READY open, both replies decrypt)
// and a replayed reply is refused.
func TestCurveCaptureServerReplays(t *testing.T) {
	cap := readCaptureServer(t)
	stream := bytes.Join(cap, nil)
	msgs, err := replayClient(captureClientOptions(t), stream)
	if !errors.Is(err, io.EOF) || len(msgs) != 2 || string(msgs[1][1]) != `{"status": "success", "result": "pyzmq"}` {
		t.Fatalf("replay: %q %v", msgs, err)
	}
	msgs, err = replayClient(captureClientOptions(t), append(stream, cap[len(cap)-1]...))
	if len(msgs) != 2 || !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("replayed reply: %d messages, %v", len(msgs), err)
	}
}

// replayClient runs our client over a fixed server byte stream.
func replayClient(o Options, stream []byte) ([][][]byte, error) {
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(stream), io.Discard}
	c, err := Handshake(rw, o)
	if err != nil {
		return nil, err
	}
	var out [][][]byte
	for i := 0; i < 64; i++ {
		m, err := c.ReadMessage()
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, fmt.Errorf("too many messages")
}

// FuzzCurveClient drives our CURVE client with arbitrary server bytes,
// seeded with a real libzmq server's session (reproducible on our side,
// so its WELCOME and READY open) and cuts and flips of it.
func FuzzCurveClient(f *testing.F) {
	cap := readCaptureServer(f)
	stream := bytes.Join(cap, nil)
	f.Add(stream)
	for i := 1; i < len(cap); i++ {
		f.Add(bytes.Join(cap[:i], nil))
	}
	for _, at := range []int{70, 100, 250, len(stream) - 3} {
		if at < len(stream) {
			b := append([]byte(nil), stream...)
			b[at] ^= 0x40
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := replayClient(captureClientOptions(t), data)
		for _, m := range msgs {
			if len(m) > 4 {
				t.Fatal("frame limit")
			}
			for _, fr := range m {
				if len(fr) > 4096 {
					t.Fatal("frame size limit")
				}
			}
		}
	})
}

// FuzzCurveCommands feeds every CURVE command parser arbitrary bodies.
func FuzzCurveCommands(f *testing.F) {
	for _, w := range readCapture(f)[1:] {
		f.Add(frameBody(w))
	}
	for _, w := range readCaptureServer(f)[1:] {
		f.Add(frameBody(w))
	}
	f.Add(append(append([]byte{}, cmdWelcome...), make([]byte, 160)...))
	f.Add(append(append([]byte{}, cmdReady...), make([]byte, 30)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseCurveHello(b); err == nil && len(h.box) != 80 {
			t.Fatal("hello box")
		}
		if n, bx, err := parseCurveWelcome(b); err == nil && (len(n) != 16 || len(bx) != 144) {
			t.Fatal("welcome")
		}
		if in, err := parseCurveInitiate(b); err == nil {
			if len(in.cookieNonce) != 16 || len(in.cookieBox) != 80 || len(in.box) < 144 {
				t.Fatal("initiate")
			}
			if v, err := parseCurveInitiatePlain(in.box); err == nil && (len(v.vouchBox) != 80 || len(v.vouchNonce) != 16) {
				t.Fatal("vouch")
			}
		}
		if _, bx, err := parseCurveReady(b); err == nil && len(bx) < 16 {
			t.Fatal("ready")
		}
		if _, bx, err := parseCurveMessage(b); err == nil && len(bx) < 17 {
			t.Fatal("message")
		}
		var k curveCodec
		_, _, _ = k.open(b)
	})
}

// BenchmarkConnMiB is the per-MiB cost of the mechanisms: 1 MiB messages
// (16 frames of 64 KiB) written by a client and read by a server over
// loopback TCP, NULL against CURVE (one box per frame).
func BenchmarkConnMiB(b *testing.B) {
	k := newCurveKeys(b)
	frame := bytes.Repeat([]byte{0xA5}, 64<<10)
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = frame
	}
	for _, mech := range []string{"NULL", "CURVE"} {
		b.Run(mech, func(b *testing.B) {
			so := Options{SocketType: "ROUTER", Limits: Limits{MaxFrame: 64 << 10, MaxFrames: 16}}
			co := Options{SocketType: "DEALER"}
			if mech == "CURVE" {
				so.Curve = k.server(k.clientPub).Curve
				co.Curve = k.client().Curve
			}
			srv, cli, se, ce := benchPair(b, so, co)
			if se != nil || ce != nil {
				b.Fatal(se, ce)
			}
			done := make(chan error, 1)
			go func() {
				for i := 0; i < b.N; i++ {
					if _, err := srv.ReadMessageReuse(); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			b.SetBytes(1 << 20)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := cli.WriteMessage(frames...); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchPair is pair for benchmarks: no deadlines, closed at the end.
func benchPair(b *testing.B, srvOpt, cliOpt Options) (srv, cli *Conn, srvErr, cliErr error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
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
		b.Cleanup(func() { nc.Close() })
		srv, srvErr = Handshake(nc, srvOpt)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	cli, cliErr = Handshake(nc, cliOpt)
	<-done
	return
}
