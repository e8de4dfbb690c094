package zmtp

import (
	"bufio"
	"fmt"
	"io"
)

// Options describe our side of a connection.
type Options struct {
	// SocketType is what we announce in READY ("ROUTER", "REQ", …).
	SocketType string
	// Identity is announced when not nil (libzmq always sends one, empty).
	Identity []byte
	// Accept lists the peer socket types we talk to; empty accepts any.
	Accept []string
	Limits Limits
	// Curve, when set, selects the CURVE mechanism (RFC 26) instead of
	// NULL: the peer must greet with CURVE too.
	Curve *Curve
	// MessageStarted, when set, is called by ReadMessage as soon as the
	// first byte of the next message is available, so the caller can bound
	// the rest of the message in time (netsvc.Conn.StartMessage).
	MessageStarted func()
}

// Conn is one ZMTP connection after the handshake. It is not safe for
// concurrent use: one goroutine reads and writes (PONG replies are written
// from inside ReadMessage).
type Conn struct {
	rw   io.ReadWriter
	r    *bufio.Reader
	lim  Limits
	wbuf []byte

	// Reused by ReadMessageReuse: the frame slice and one arena holding
	// the bodies of the last message.
	rmsg   [][]byte
	rarena []byte
	cbuf   []byte // CURVE: the encrypted frame being read

	msgStarted func()

	// cur encrypts and decrypts frames after a CURVE handshake; nil for
	// NULL.
	cur *curveCodec

	// Peer is the peer's greeting; PeerType and PeerIdentity come from its
	// READY metadata.
	Peer         Greeting
	PeerType     string
	PeerIdentity []byte
	// PeerKey is, after a CURVE handshake, the peer's long-term public
	// key: the client's proven key on a server, the server's on a client.
	PeerKey [32]byte
}

// Mechanism is "CURVE" or "NULL".
func (c *Conn) Mechanism() string {
	if c.cur != nil {
		return "CURVE"
	}
	return "NULL"
}

// Handshake exchanges greetings and READY commands on rw (with
// Options.Curve: the CURVE handshake of curve.go). The caller bounds
// its duration (netsvc.Conn.StartHandshake, or a deadline on a client
// socket).
func Handshake(rw io.ReadWriter, o Options) (*Conn, error) {
	c := &Conn{rw: rw, r: bufio.NewReaderSize(rw, 4096), lim: o.Limits, msgStarted: o.MessageStarted}
	mech, greeting := "NULL", AppendGreeting(nil)
	if o.Curve != nil {
		mech, greeting = "CURVE", appendGreeting(nil, "CURVE", o.Curve.Server)
	}
	if _, err := rw.Write(greeting); err != nil {
		return nil, fmt.Errorf("write greeting: %w", err)
	}
	var g [GreetingSize]byte
	if _, err := io.ReadFull(c.r, g[:]); err != nil {
		return nil, fmt.Errorf("read greeting: %w", noEOF(err))
	}
	peer, err := parseGreeting(g[:], mech)
	if err != nil {
		return nil, err
	}
	c.Peer = peer
	if o.Curve != nil {
		if o.Curve.Server {
			err = c.curveServer(o)
		} else {
			err = c.curveClient(o)
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	if _, err := rw.Write(AppendReady(nil, ourProps(o)...)); err != nil {
		return nil, fmt.Errorf("write ready: %w", err)
	}
	flags, body, err := ReadFrame(c.r, maxCommand, nil)
	if err != nil {
		return nil, fmt.Errorf("read ready: %w", err)
	}
	if flags&FlagCommand == 0 {
		return nil, protoErr("expected READY, got a message frame")
	}
	name, data, err := ParseCommand(body)
	if err != nil {
		return nil, err
	}
	if name == "ERROR" {
		return nil, protoErr("peer refused the handshake: %q", errorReason(data))
	}
	if name != "READY" {
		return nil, protoErr("expected READY, got %q", name)
	}
	md, err := ParseMetadata(data)
	if err != nil {
		return nil, err
	}
	if err := c.takeMetadata(md, o, true); err != nil {
		return nil, err
	}
	return c, nil
}

// ourProps is the metadata we announce.
func ourProps(o Options) []Property {
	props := []Property{{Name: "Socket-Type", Value: []byte(o.SocketType)}}
	if o.Identity != nil {
		props = append(props, Property{Name: "Identity", Value: o.Identity})
	}
	return props
}

// takeMetadata records the peer's Socket-Type and Identity and checks the
// type against o.Accept; with sayWhy, a refused type is told to the peer
// in an ERROR command first (RFC 37).
func (c *Conn) takeMetadata(md []Property, o Options, sayWhy bool) error {
	st, ok := Lookup(md, "Socket-Type")
	if !ok {
		return protoErr("READY without Socket-Type")
	}
	c.PeerType = string(st)
	if id, ok := Lookup(md, "Identity"); ok {
		if len(id) > 255 {
			return protoErr("identity of %d bytes", len(id))
		}
		c.PeerIdentity = append([]byte(nil), id...)
	}
	if len(o.Accept) > 0 && !contains(o.Accept, c.PeerType) {
		if sayWhy {
			c.writeError("invalid socket type")
		}
		return protoErr("peer socket type %q not accepted by %s", c.PeerType, o.SocketType)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func errorData(reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	return append([]byte{byte(len(reason))}, reason...)
}

func errorReason(data []byte) string {
	if len(data) == 0 || int(data[0]) > len(data)-1 {
		return ""
	}
	return string(data[1 : 1+int(data[0])])
}

// ReadMessage reads the next message (all its frames). PING commands are
// answered with PONG and other commands are skipped, as RFC 37 asks; an
// ERROR command ends the connection. Frames and their count are bounded by
// the Limits; on ErrTooLarge the connection must be closed. The frames are
// the caller's to keep.
func (c *Conn) ReadMessage() ([][]byte, error) {
	return c.readMessage(nil, nil)
}

// maxArena is the largest body arena ReadMessageReuse keeps between
// messages: small requests reuse it, a rare big one is not pinned.
const maxArena = 64 << 10

// ReadMessageReuse is ReadMessage for a request loop: the returned slice
// and frames are reused by the next ReadMessageReuse call, so a steady
// stream of small messages allocates nothing. Use ReadMessage when frames
// must outlive the next read.
func (c *Conn) ReadMessageReuse() ([][]byte, error) {
	msg, err := c.readMessage(c.rmsg[:0], c.rarena[:0])
	if err != nil {
		return nil, err
	}
	c.rmsg = msg[:0]
	// Grow the arena to what this message needed, within maxArena, so the
	// next message of the same size fits.
	need := 0
	for _, f := range msg {
		need += len(f)
	}
	if need > cap(c.rarena) && need <= maxArena {
		c.rarena = make([]byte, 0, need)
	}
	return msg, nil
}

// readMessage appends the frames to msg; bodies are cut from arena's spare
// capacity while it lasts, then allocated.
func (c *Conn) readMessage(msg [][]byte, arena []byte) ([][]byte, error) {
	if c.msgStarted != nil {
		if _, err := c.r.Peek(1); err != nil {
			return nil, err
		}
		c.msgStarted()
	}
	n := 0
	// Commands between messages are bounded too: a peer that only pings
	// still has to wait for our PONG writes, and each read is under the
	// caller's idle deadline.
	for {
		var spare []byte
		if arena != nil {
			spare = arena[len(arena):cap(arena)]
		}
		flags, body, err := c.readFrame(spare)
		if err != nil {
			if n > 0 {
				err = noEOF(err)
			}
			return nil, err
		}
		if flags&FlagCommand != 0 {
			// A command's body may sit in the arena; it is used up here.
			if err := c.command(body); err != nil {
				return nil, err
			}
			continue
		}
		if n >= c.lim.frames() {
			return nil, fmt.Errorf("%w: more than %d frames in one message", ErrTooLarge, c.lim.frames())
		}
		if arena != nil && len(body) <= cap(arena)-len(arena) {
			// Full slice expression: an append to one frame can never run
			// into the next.
			arena = arena[:len(arena)+len(body)]
			body = body[:len(body):len(body)]
		}
		msg = append(msg, body)
		n++
		if flags&FlagMore == 0 {
			return msg, nil
		}
	}
}

// readFrame reads the next frame; after a CURVE handshake it reads one
// MESSAGE and returns the frame inside it. The body is cut from spare when
// it fits.
func (c *Conn) readFrame(spare []byte) (flags byte, body []byte, err error) {
	if c.cur == nil {
		return ReadFrame(c.r, c.lim.frame(), spare)
	}
	// A MESSAGE carries one frame of up to the frame limit; libzmq sends it
	// as a message frame, and a command-flagged one is taken as well.
	lim := c.lim.frame() + curveOverhead
	outer, b, err := readFrame(c.r, lim, lim, c.cbuf[:0])
	if err != nil {
		return 0, nil, err
	}
	if cap(b) <= maxArena {
		c.cbuf = b[:0]
	}
	if outer&FlagMore != 0 {
		return 0, nil, protoErr("CURVE MESSAGE frame with MORE")
	}
	inner, p, err := c.cur.open(b)
	if err != nil {
		return 0, nil, err
	}
	if inner&0x01 != 0 {
		flags |= FlagMore
	}
	if inner&0x02 != 0 {
		flags |= FlagCommand
		if flags&FlagMore != 0 {
			return 0, nil, protoErr("command frame with MORE")
		}
		if len(p) > maxCommand {
			return 0, nil, fmt.Errorf("%w: command of %d bytes", ErrTooLarge, len(p))
		}
	}
	// The plaintext lives in scratch space reused by the next frame.
	if len(p) <= len(spare) {
		body = spare[:copy(spare, p)]
	} else {
		body = append([]byte(nil), p...)
	}
	if cap(c.cur.plain) > maxArena {
		c.cur.plain = nil // do not pin a big frame's buffer
	}
	return flags, body, nil
}

// writeCommand writes a command frame, inside a MESSAGE after a CURVE
// handshake.
func (c *Conn) writeCommand(name string, data []byte) error {
	if c.cur == nil {
		_, err := c.rw.Write(AppendCommand(nil, name, data))
		return err
	}
	body := append([]byte{byte(len(name))}, name...)
	b, err := c.cur.appendMessage(nil, 0x02, append(body, data...))
	if err != nil {
		return err
	}
	_, err = c.rw.Write(b)
	return err
}

func (c *Conn) command(body []byte) error {
	name, data, err := ParseCommand(body)
	if err != nil {
		return err
	}
	switch name {
	case "PING":
		if len(data) < 2 {
			return protoErr("short PING")
		}
		ctx := data[2:]
		if len(ctx) > maxPingContext {
			ctx = ctx[:maxPingContext]
		}
		return c.writeCommand("PONG", ctx)
	case "ERROR":
		return protoErr("peer sent ERROR: %q", errorReason(data))
	}
	return nil
}

// WriteMessage writes frames as one message in a single Write.
func (c *Conn) WriteMessage(frames ...[]byte) error {
	if len(frames) == 0 {
		return protoErr("empty message")
	}
	b := c.wbuf[:0]
	for i, f := range frames {
		more := i < len(frames)-1
		if c.cur != nil {
			var inner byte
			if more {
				inner = 0x01
			}
			var err error
			if b, err = c.cur.appendMessage(b, inner, f); err != nil {
				return err
			}
			continue
		}
		var flags byte
		if more {
			flags = FlagMore
		}
		b = AppendFrame(b, flags, f)
	}
	c.wbuf = b
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // do not pin a large buffer after one big reply
	}
	_, err := c.rw.Write(b)
	return err
}
