package zmtp

// The CURVE security mechanism (ZeroMQ RFC 26, CurveZMQ), server and
// client sides, with NaCl boxes from golang.org/x/crypto (no cgo, no
// libsodium). The handshake, in commands (sizes are whole command bodies):
//
//	client → HELLO (200):    version 1.0, padding, C', short nonce,
//	                         Box[64 zero bytes](C'→S)
//	server → WELCOME (168):  long nonce, Box[S' + cookie](S→C'), where
//	                         cookie = nonce + SecretBox[C' + s'](K) and K
//	                         is a fresh random key of this connection
//	client → INITIATE (≥257): cookie, short nonce,
//	                         Box[C + vouch + metadata](C'→S'), where
//	                         vouch = nonce + Box[C' + S](C→S')
//	server → READY (≥30):    short nonce, Box[metadata](S'→C')
//
// then every frame travels as a MESSAGE: short nonce and
// Box[flags + body](C'↔S'). Short nonces are 64-bit big-endian counters
// that must strictly increase in each direction; a replayed or reordered
// MESSAGE fails that check and closes the connection. The server checks
// the client's long-term key C (Curve.Authorize) after the vouch proves
// the client holds it and before READY, like libzmq's ZAP handler.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// Curve configures the CURVE mechanism for Options.Curve.
type Curve struct {
	// Server selects the server role (as-server 1 in the greeting).
	Server bool
	// PublicKey and SecretKey are our long-term key pair: the server's
	// (S, s) or the client's (C, c).
	PublicKey, SecretKey [32]byte
	// ServerKey is, on a client, the server's long-term public key S.
	ServerKey [32]byte
	// Authorize, on a server, decides whether a client that proved it
	// holds the long-term key clientKey may connect. It runs before READY;
	// an error refuses the client with an ERROR command and the handshake
	// fails with ErrUnauthorized. nil accepts every client key, as libzmq
	// does without a ZAP handler.
	Authorize func(clientKey [32]byte) error

	// Rand is the source of the handshake's ephemeral keys, nonce
	// prefixes and cookie keys (nil: crypto/rand).
	Rand io.Reader

	vouchServerKey *[32]byte // tests vouch for another server
}

func (cv *Curve) random() io.Reader {
	if cv.Rand != nil {
		return cv.Rand
	}
	return rand.Reader
}

// ErrUnauthorized is returned by a CURVE server handshake when Authorize
// refused the client's key, and by a client the server refused that way.
var ErrUnauthorized = fmt.Errorf("%w: client key not authorized", ErrProtocol)

// unauthorizedReason is the ERROR reason sent to a refused client: the
// status code libzmq's own ZAP denial sends, so a libzmq client's monitor
// reports an authentication failure.
const unauthorizedReason = "400"

// GenerateCurveKeyPair returns a new long-term CURVE key pair.
func GenerateCurveKeyPair() (public, secret [32]byte, err error) {
	pub, sec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return public, secret, err
	}
	public, secret = *pub, *sec
	zero(sec[:])
	return public, secret, nil
}

// CurvePublicKey derives the public key of a CURVE secret key.
func CurvePublicKey(secret [32]byte) [32]byte {
	var pub [32]byte
	b, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err == nil {
		copy(pub[:], b)
	}
	return pub
}

// Sizes of the CURVE commands, whole bodies (name length byte and name
// included).
const (
	curveHelloSize    = 200
	curveWelcomeSize  = 168
	curveInitiateMin  = 257
	curveReadyMin     = 30 // 6 + 8 + MAC
	curveMessageMin   = 33 // 8 + 8 + MAC + flags
	curveOverhead     = curveMessageMin
	curveMessageFlags = 0x01 | 0x02
)

var (
	cmdHello    = []byte("\x05HELLO")
	cmdWelcome  = []byte("\x07WELCOME")
	cmdInitiate = []byte("\x08INITIATE")
	cmdReady    = []byte("\x05READY")
	cmdMessage  = []byte("\x07MESSAGE")
)

// curveHello is a parsed HELLO.
type curveHello struct {
	clientShort [32]byte // C'
	nonce       uint64
	box         []byte // 80 bytes
}

// parseCurveHello checks a HELLO command body: exact size, name, version
// 1.0. The padding is not checked, as libzmq does not.
func parseCurveHello(b []byte) (h curveHello, err error) {
	if len(b) != curveHelloSize {
		return h, protoErr("CURVE HELLO of %d bytes, want %d", len(b), curveHelloSize)
	}
	if string(b[:6]) != string(cmdHello) {
		return h, protoErr("expected CURVE HELLO")
	}
	if b[6] != 1 || b[7] != 0 {
		return h, protoErr("CURVE HELLO version %d.%d, want 1.0", b[6], b[7])
	}
	copy(h.clientShort[:], b[80:112])
	h.nonce = binary.BigEndian.Uint64(b[112:120])
	h.box = b[120:200]
	return h, nil
}

// parseCurveWelcome checks a WELCOME body: long nonce and 144-byte box.
func parseCurveWelcome(b []byte) (nonce []byte, bx []byte, err error) {
	if len(b) != curveWelcomeSize {
		return nil, nil, protoErr("CURVE WELCOME of %d bytes, want %d", len(b), curveWelcomeSize)
	}
	if string(b[:8]) != string(cmdWelcome) {
		return nil, nil, protoErr("expected CURVE WELCOME")
	}
	return b[8:24], b[24:], nil
}

// curveInitiate is a parsed INITIATE (outer part).
type curveInitiate struct {
	cookieNonce []byte // 16
	cookieBox   []byte // 80
	nonce       uint64
	box         []byte // ≥ 144
}

func parseCurveInitiate(b []byte) (in curveInitiate, err error) {
	if len(b) < curveInitiateMin {
		return in, protoErr("CURVE INITIATE of %d bytes, need at least %d", len(b), curveInitiateMin)
	}
	if len(b) > maxCommand {
		return in, protoErr("CURVE INITIATE of %d bytes", len(b))
	}
	if string(b[:9]) != string(cmdInitiate) {
		return in, protoErr("expected CURVE INITIATE")
	}
	in.cookieNonce = b[9:25]
	in.cookieBox = b[25:105]
	in.nonce = binary.BigEndian.Uint64(b[105:113])
	in.box = b[113:]
	return in, nil
}

// curveVouch is the opened INITIATE box: C, the vouch and the metadata.
type curveVouch struct {
	clientKey  [32]byte // C
	vouchNonce []byte   // 16
	vouchBox   []byte   // 80
	metadata   []byte
}

func parseCurveInitiatePlain(p []byte) (v curveVouch, err error) {
	if len(p) < 128 {
		return v, protoErr("CURVE INITIATE box of %d bytes", len(p))
	}
	copy(v.clientKey[:], p[:32])
	v.vouchNonce = p[32:48]
	v.vouchBox = p[48:128]
	v.metadata = p[128:]
	return v, nil
}

// parseCurveReady checks a READY body: short nonce and box.
func parseCurveReady(b []byte) (nonce uint64, bx []byte, err error) {
	if len(b) < curveReadyMin {
		return 0, nil, protoErr("CURVE READY of %d bytes", len(b))
	}
	if string(b[:6]) != string(cmdReady) {
		return 0, nil, protoErr("expected CURVE READY")
	}
	return binary.BigEndian.Uint64(b[6:14]), b[14:], nil
}

// parseCurveMessage checks a MESSAGE body: short nonce and box.
func parseCurveMessage(b []byte) (nonce uint64, bx []byte, err error) {
	if len(b) < 8 || string(b[:8]) != string(cmdMessage) {
		return 0, nil, protoErr("expected CURVE MESSAGE")
	}
	if len(b) < curveMessageMin {
		return 0, nil, protoErr("CURVE MESSAGE of %d bytes", len(b))
	}
	return binary.BigEndian.Uint64(b[8:16]), b[16:], nil
}

func nonce24(prefix string, tail []byte) *[24]byte {
	var n [24]byte
	copy(n[:], prefix)
	copy(n[len(prefix):], tail)
	return &n
}

func shortNonce(prefix string, v uint64) *[24]byte {
	var n [24]byte
	copy(n[:16], prefix)
	binary.BigEndian.PutUint64(n[16:], v)
	return &n
}

func zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// curveCodec encrypts and decrypts MESSAGE commands once the handshake is
// done. Not safe for concurrent use, like Conn.
type curveCodec struct {
	shared     [32]byte // precomputed C'/S' key
	sendPrefix string
	recvPrefix string
	sendNonce  uint64 // next nonce we use
	recvNonce  uint64 // last nonce the peer used; the next must be larger
	plain      []byte // scratch: flags + body
}

// appendMessage appends one frame as an encrypted MESSAGE: flags are the
// inner flags (0x01 more, 0x02 command). The outer frame has no flags set,
// as libzmq writes it.
func (k *curveCodec) appendMessage(dst []byte, flags byte, body []byte) ([]byte, error) {
	if k.sendNonce == ^uint64(0) {
		return dst, protoErr("CURVE nonces exhausted")
	}
	n := k.sendNonce
	k.sendNonce++
	dst = appendFrameHeader(dst, 0, curveOverhead+len(body))
	dst = append(dst, cmdMessage...)
	dst = binary.BigEndian.AppendUint64(dst, n)
	k.plain = append(append(k.plain[:0], flags), body...)
	dst = box.SealAfterPrecomputation(dst, k.plain, shortNonce(k.sendPrefix, n), &k.shared)
	if cap(k.plain) > maxArena {
		k.plain = nil
	}
	return dst, nil
}

// open decrypts one MESSAGE body. The returned body is valid until the
// next call.
func (k *curveCodec) open(b []byte) (flags byte, body []byte, err error) {
	n, bx, err := parseCurveMessage(b)
	if err != nil {
		return 0, nil, err
	}
	if n <= k.recvNonce {
		return 0, nil, protoErr("CURVE MESSAGE nonce %d not above %d (replayed or reordered)", n, k.recvNonce)
	}
	p, ok := box.OpenAfterPrecomputation(k.plain[:0], bx, shortNonce(k.recvPrefix, n), &k.shared)
	if !ok {
		return 0, nil, protoErr("CURVE MESSAGE box does not open")
	}
	k.plain = p
	k.recvNonce = n
	if p[0]&^curveMessageFlags != 0 {
		return 0, nil, protoErr("CURVE MESSAGE flags 0x%02x", p[0])
	}
	return p[0], p[1:], nil
}

// readHandshakeCommand reads one command frame during a CURVE handshake
// and returns its whole body. An ERROR command from the peer ends the
// handshake with its reason.
func (c *Conn) readHandshakeCommand(what string) ([]byte, error) {
	flags, body, err := ReadFrame(c.r, maxCommand, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if flags&FlagCommand == 0 {
		return nil, protoErr("expected %s, got a message frame", what)
	}
	name, data, err := ParseCommand(body)
	if err != nil {
		return nil, err
	}
	if name == "ERROR" {
		reason := errorReason(data)
		if reason == unauthorizedReason {
			return nil, fmt.Errorf("%w (server said %q)", ErrUnauthorized, reason)
		}
		return nil, protoErr("peer refused the handshake: %q", reason)
	}
	return body, nil
}

func (c *Conn) writeError(reason string) {
	_, _ = c.rw.Write(AppendCommand(nil, "ERROR", errorData(reason)))
}

// curveServer runs the server side after the greetings.
func (c *Conn) curveServer(o Options) error {
	cv := o.Curve
	rnd := cv.random()
	body, err := c.readHandshakeCommand("HELLO")
	if err != nil {
		return err
	}
	hello, err := parseCurveHello(body)
	if err != nil {
		return err
	}
	if _, ok := box.Open(nil, hello.box, nonce24("CurveZMQHELLO---", u64(hello.nonce)), &hello.clientShort, &cv.SecretKey); !ok {
		return protoErr("CURVE HELLO box does not open (client uses another server key?)")
	}

	// Our short-term pair and this connection's cookie key.
	sPub, sSec, err := box.GenerateKey(rnd)
	if err != nil {
		return err
	}
	defer zero(sSec[:])
	var cookieKey [32]byte
	defer zero(cookieKey[:])
	var cookieNonce, welcomeNonce [16]byte
	for _, b := range [][]byte{cookieKey[:], cookieNonce[:], welcomeNonce[:]} {
		if _, err := io.ReadFull(rnd, b); err != nil {
			return err
		}
	}
	var cookiePlain [64]byte
	copy(cookiePlain[:32], hello.clientShort[:])
	copy(cookiePlain[32:], sSec[:])
	welcomePlain := make([]byte, 0, 128)
	welcomePlain = append(welcomePlain, sPub[:]...)
	welcomePlain = append(welcomePlain, cookieNonce[:]...)
	welcomePlain = secretbox.Seal(welcomePlain, cookiePlain[:], nonce24("COOKIE--", cookieNonce[:]), &cookieKey)
	zero(cookiePlain[:])
	w := make([]byte, 0, curveWelcomeSize)
	w = append(w, cmdWelcome...)
	w = append(w, welcomeNonce[:]...)
	w = box.Seal(w, welcomePlain, nonce24("WELCOME-", welcomeNonce[:]), &hello.clientShort, &cv.SecretKey)
	if _, err := c.rw.Write(appendCommandBody(nil, w)); err != nil {
		return fmt.Errorf("write WELCOME: %w", err)
	}

	body, err = c.readHandshakeCommand("INITIATE")
	if err != nil {
		return err
	}
	in, err := parseCurveInitiate(body)
	if err != nil {
		return err
	}
	cookie, ok := secretbox.Open(nil, in.cookieBox, nonce24("COOKIE--", in.cookieNonce), &cookieKey)
	if !ok {
		return protoErr("CURVE INITIATE cookie does not open")
	}
	cookieOK := subtle.ConstantTimeCompare(cookie[:32], hello.clientShort[:]) == 1 &&
		subtle.ConstantTimeCompare(cookie[32:], sSec[:]) == 1
	zero(cookie)
	if !cookieOK {
		return protoErr("CURVE INITIATE cookie is not this connection's")
	}
	if in.nonce <= hello.nonce {
		return protoErr("CURVE INITIATE nonce %d not above HELLO's %d", in.nonce, hello.nonce)
	}
	plain, ok := box.Open(nil, in.box, nonce24("CurveZMQINITIATE", u64(in.nonce)), &hello.clientShort, sSec)
	if !ok {
		return protoErr("CURVE INITIATE box does not open")
	}
	v, err := parseCurveInitiatePlain(plain)
	if err != nil {
		return err
	}
	vouch, ok := box.Open(nil, v.vouchBox, nonce24("VOUCH---", v.vouchNonce), &v.clientKey, sSec)
	if !ok {
		return protoErr("CURVE vouch does not open (client does not hold its key)")
	}
	if subtle.ConstantTimeCompare(vouch[:32], hello.clientShort[:]) != 1 ||
		subtle.ConstantTimeCompare(vouch[32:], cv.PublicKey[:]) != 1 {
		return protoErr("CURVE vouch names other keys")
	}
	k := &curveCodec{sendPrefix: "CurveZMQMESSAGES", recvPrefix: "CurveZMQMESSAGEC", sendNonce: 1, recvNonce: in.nonce}
	box.Precompute(&k.shared, &hello.clientShort, sSec)
	zero(sSec[:])

	md, err := ParseMetadata(v.metadata)
	if err != nil {
		return err
	}
	if err := c.takeMetadata(md, o, true); err != nil {
		return err
	}
	if cv.Authorize != nil {
		if err := cv.Authorize(v.clientKey); err != nil {
			c.writeError(unauthorizedReason)
			return fmt.Errorf("%w: %s: %v", ErrUnauthorized, KeyText(v.clientKey), err)
		}
	}
	c.PeerKey = v.clientKey

	r := make([]byte, 0, 64)
	r = append(r, cmdReady...)
	r = binary.BigEndian.AppendUint64(r, k.sendNonce)
	r = box.SealAfterPrecomputation(r, appendProps(nil, ourProps(o)...), shortNonce("CurveZMQREADY---", k.sendNonce), &k.shared)
	k.sendNonce++
	if _, err := c.rw.Write(appendCommandBody(nil, r)); err != nil {
		return fmt.Errorf("write READY: %w", err)
	}
	c.cur = k
	return nil
}

// curveClient runs the client side after the greetings.
func (c *Conn) curveClient(o Options) error {
	cv := o.Curve
	rnd := cv.random()
	cPub, cSec, err := box.GenerateKey(rnd)
	if err != nil {
		return err
	}
	defer zero(cSec[:])
	const helloNonce, initiateNonce = 1, 2
	h := make([]byte, 0, curveHelloSize)
	h = append(h, cmdHello...)
	h = append(h, 1, 0)
	h = append(h, make([]byte, 72)...)
	h = append(h, cPub[:]...)
	h = binary.BigEndian.AppendUint64(h, helloNonce)
	h = box.Seal(h, make([]byte, 64), shortNonce("CurveZMQHELLO---", helloNonce), &cv.ServerKey, cSec)
	if _, err := c.rw.Write(appendCommandBody(nil, h)); err != nil {
		return fmt.Errorf("write HELLO: %w", err)
	}

	body, err := c.readHandshakeCommand("WELCOME")
	if err != nil {
		return err
	}
	wn, wbox, err := parseCurveWelcome(body)
	if err != nil {
		return err
	}
	welcome, ok := box.Open(nil, wbox, nonce24("WELCOME-", wn), &cv.ServerKey, cSec)
	if !ok {
		return protoErr("CURVE WELCOME box does not open (wrong server key?)")
	}
	var sShort [32]byte
	copy(sShort[:], welcome[:32])
	cookie := welcome[32:128]

	var vouchNonce [16]byte
	if _, err := io.ReadFull(rnd, vouchNonce[:]); err != nil {
		return err
	}
	var vouchPlain [64]byte
	copy(vouchPlain[:32], cPub[:])
	copy(vouchPlain[32:], cv.ServerKey[:])
	if cv.vouchServerKey != nil {
		copy(vouchPlain[32:], cv.vouchServerKey[:])
	}
	p := make([]byte, 0, 256)
	p = append(p, cv.PublicKey[:]...)
	p = append(p, vouchNonce[:]...)
	p = box.Seal(p, vouchPlain[:], nonce24("VOUCH---", vouchNonce[:]), &sShort, &cv.SecretKey)
	p = appendProps(p, ourProps(o)...)
	in := make([]byte, 0, 113+len(p)+box.Overhead)
	in = append(in, cmdInitiate...)
	in = append(in, cookie...)
	in = binary.BigEndian.AppendUint64(in, initiateNonce)
	in = box.Seal(in, p, shortNonce("CurveZMQINITIATE", initiateNonce), &sShort, cSec)
	if _, err := c.rw.Write(appendCommandBody(nil, in)); err != nil {
		return fmt.Errorf("write INITIATE: %w", err)
	}
	k := &curveCodec{sendPrefix: "CurveZMQMESSAGEC", recvPrefix: "CurveZMQMESSAGES", sendNonce: initiateNonce + 1}
	box.Precompute(&k.shared, &sShort, cSec)
	zero(cSec[:])

	body, err = c.readHandshakeCommand("READY")
	if err != nil {
		return err
	}
	rn, rbox, err := parseCurveReady(body)
	if err != nil {
		return err
	}
	md, ok := box.OpenAfterPrecomputation(nil, rbox, shortNonce("CurveZMQREADY---", rn), &k.shared)
	if !ok {
		return protoErr("CURVE READY box does not open")
	}
	k.recvNonce = rn
	props, err := ParseMetadata(md)
	if err != nil {
		return err
	}
	if err := c.takeMetadata(props, o, false); err != nil {
		return err
	}
	c.PeerKey = cv.ServerKey
	c.cur = k
	return nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// appendCommandBody frames an already built command body (name length,
// name, data) as a command frame.
func appendCommandBody(dst, body []byte) []byte { return AppendFrame(dst, FlagCommand, body) }
