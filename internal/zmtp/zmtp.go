// Package zmtp is a small ZMTP 3.0/3.1 codec (RFC 23, RFC 37) for the NULL
// and CURVE (RFC 26, curve.go) security mechanisms: the 64-byte greeting,
// the READY handshake with Socket-Type/Identity metadata, frames and
// multipart messages, and PING/PONG.
// It is enough to serve REQ and DEALER peers as a ROUTER would, and to talk to
// a ROUTER/REP server as a REQ socket.
//
// Everything read from the peer is bounded before any allocation: the size of
// one frame, the number of frames in one message, the size of a command and
// its metadata. The codec sets no deadlines itself: the caller owns the
// connection's timing (netsvc.Conn does it for the server side).
//
// Why our own codec and not a library: docs/zmqcmd.md, "Why our own ZMTP
// codec" (the pure-Go library allocates whatever a 9-byte frame
// header claims, and a silent peer blocks its accept loop).
package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame flag bits (ZMTP 3.0, RFC 23 at rfc.zeromq.org, "Framing").
const (
	FlagMore    = 0x01
	FlagLong    = 0x02
	FlagCommand = 0x04
)

// Defaults for Limits.
const (
	DefaultMaxFrame  = 64 << 10
	DefaultMaxFrames = 8
	// maxCommand bounds a command frame (READY, PING, …) independently of
	// the message limit: a READY with a few properties is far below it.
	maxCommand = 4 << 10
	// maxPingContext is the longest PING context RFC 37 allows.
	maxPingContext = 16
)

// ErrProtocol is wrapped by every error caused by what the peer sent.
var ErrProtocol = errors.New("zmtp: protocol error")

// ErrTooLarge is wrapped when a frame or message exceeds the limits; the
// frame's body has not been read, so the connection cannot be resumed.
var ErrTooLarge = fmt.Errorf("%w: over limit", ErrProtocol)

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, a...)...)
}

// Limits bound what one peer may send.
type Limits struct {
	MaxFrame  int // bytes in one message frame; 0 means DefaultMaxFrame
	MaxFrames int // frames in one message; 0 means DefaultMaxFrames
}

func (l Limits) frame() int {
	if l.MaxFrame <= 0 {
		return DefaultMaxFrame
	}
	return l.MaxFrame
}

func (l Limits) frames() int {
	if l.MaxFrames <= 0 {
		return DefaultMaxFrames
	}
	return l.MaxFrames
}

// GreetingSize is the fixed size of a ZMTP 3.x greeting.
const GreetingSize = 64

// Greeting is the decoded part of a peer's greeting that matters.
type Greeting struct {
	Major, Minor byte
	Mechanism    string
	AsServer     bool
}

// AppendGreeting appends our greeting: ZMTP 3.1, NULL, as-server 0. The
// padding carries 0x01 in its last byte exactly as libzmq 4.3 writes it
// (identity size + 1), so our bytes equal the original server's.
func AppendGreeting(dst []byte) []byte {
	return appendGreeting(dst, "NULL", false)
}

// appendGreeting appends a ZMTP 3.1 greeting for mechanism mech.
func appendGreeting(dst []byte, mech string, asServer bool) []byte {
	var g [GreetingSize]byte
	g[0] = 0xFF
	g[8] = 0x01
	g[9] = 0x7F
	g[10], g[11] = 3, 1
	copy(g[12:32], mech)
	if asServer {
		g[32] = 1
	}
	return append(dst, g[:]...)
}

// ParseGreeting checks a peer's 64-byte greeting. Peers older than ZMTP 3.0
// and mechanisms other than NULL are refused.
func ParseGreeting(b []byte) (Greeting, error) {
	return parseGreeting(b, "NULL")
}

// parseGreeting checks a greeting whose mechanism must be want (RFC 23: both
// peers use the same mechanism).
func parseGreeting(b []byte, want string) (Greeting, error) {
	if len(b) != GreetingSize {
		return Greeting{}, protoErr("greeting of %d bytes", len(b))
	}
	if b[0] != 0xFF || b[9]&0x01 != 0x01 {
		return Greeting{}, protoErr("bad greeting signature")
	}
	g := Greeting{Major: b[10], Minor: b[11], AsServer: b[32] == 1}
	if g.Major < 3 {
		return g, protoErr("peer speaks ZMTP %d.%d, need 3.x", g.Major, g.Minor)
	}
	mech := b[12:32]
	if i := bytes.IndexByte(mech, 0); i >= 0 {
		if !allZero(mech[i:]) {
			return g, protoErr("mechanism not zero-padded")
		}
		mech = mech[:i]
	}
	g.Mechanism = string(mech)
	if g.Mechanism != want {
		return g, protoErr("mechanism %q not supported (only %s)", g.Mechanism, want)
	}
	if b[32] > 1 {
		return g, protoErr("as-server byte %d", b[32])
	}
	return g, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Property is one metadata property of a READY command.
type Property struct {
	Name  string
	Value []byte
}

// AppendFrame appends one frame with the given flags (FlagLong is set or
// cleared from the size).
func AppendFrame(dst []byte, flags byte, body []byte) []byte {
	return append(appendFrameHeader(dst, flags, len(body)), body...)
}

// appendFrameHeader appends the flags and size of a frame of n bytes.
func appendFrameHeader(dst []byte, flags byte, n int) []byte {
	flags &^= FlagLong
	if n > 255 {
		dst = append(dst, flags|FlagLong)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, flags, byte(n))
}

// AppendCommand appends a command frame: name length, name, data.
func AppendCommand(dst []byte, name string, data []byte) []byte {
	body := make([]byte, 0, 1+len(name)+len(data))
	body = append(body, byte(len(name)))
	body = append(body, name...)
	body = append(body, data...)
	return AppendFrame(dst, FlagCommand, body)
}

// AppendReady appends a READY command carrying props in order.
func AppendReady(dst []byte, props ...Property) []byte {
	return AppendCommand(dst, "READY", appendProps(nil, props...))
}

// appendProps appends metadata properties (READY, CURVE INITIATE).
func appendProps(data []byte, props ...Property) []byte {
	for _, p := range props {
		data = append(data, byte(len(p.Name)))
		data = append(data, p.Name...)
		data = binary.BigEndian.AppendUint32(data, uint32(len(p.Value)))
		data = append(data, p.Value...)
	}
	return data
}

// ParseCommand splits a command frame's body into its name and data.
func ParseCommand(body []byte) (name string, data []byte, err error) {
	if len(body) < 1 {
		return "", nil, protoErr("empty command")
	}
	n := int(body[0])
	if n == 0 || 1+n > len(body) {
		return "", nil, protoErr("bad command name length %d", n)
	}
	return string(body[1 : 1+n]), body[1+n:], nil
}

// ParseMetadata decodes READY properties. Lengths are checked against what
// is left of the command, never trusted.
func ParseMetadata(data []byte) ([]Property, error) {
	var out []Property
	for len(data) > 0 {
		n := int(data[0])
		if n == 0 || 1+n+4 > len(data) {
			return nil, protoErr("bad property name length %d", n)
		}
		name := string(data[1 : 1+n])
		data = data[1+n:]
		vl := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(vl) > uint64(len(data)) {
			return nil, protoErr("property %q value of %d bytes exceeds command", name, vl)
		}
		out = append(out, Property{Name: name, Value: data[:vl]})
		data = data[vl:]
	}
	return out, nil
}

// Lookup returns the value of the first property named name (ZMTP property
// names are case-insensitive).
func Lookup(props []Property, name string) ([]byte, bool) {
	for _, p := range props {
		if equalFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ReadFrame reads one frame. The size is checked against max before any
// allocation; commands are bounded by a fixed small limit. buf is reused
// when it is large enough.
func ReadFrame(r *bufio.Reader, max int, buf []byte) (flags byte, body []byte, err error) {
	return readFrame(r, max, maxCommand, buf)
}

// readFrame is ReadFrame with the command limit given.
func readFrame(r *bufio.Reader, max, maxCmd int, buf []byte) (flags byte, body []byte, err error) {
	flags, err = r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	if flags&^(FlagMore|FlagLong|FlagCommand) != 0 {
		return flags, nil, protoErr("reserved flag bits 0x%02x", flags)
	}
	if flags&FlagCommand != 0 && flags&FlagMore != 0 {
		return flags, nil, protoErr("command frame with MORE")
	}
	var n uint64
	if flags&FlagLong != 0 {
		var b [8]byte
		if _, err = io.ReadFull(r, b[:]); err != nil {
			return flags, nil, noEOF(err)
		}
		n = binary.BigEndian.Uint64(b[:])
	} else {
		c, err := r.ReadByte()
		if err != nil {
			return flags, nil, noEOF(err)
		}
		n = uint64(c)
	}
	limit := uint64(max)
	if flags&FlagCommand != 0 {
		limit = uint64(maxCmd)
	}
	if n > limit {
		return flags, nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrTooLarge, n, limit)
	}
	if uint64(cap(buf)) >= n {
		body = buf[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err = io.ReadFull(r, body); err != nil {
		return flags, nil, noEOF(err)
	}
	return flags, body, nil
}

// noEOF turns an EOF in the middle of a frame into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
