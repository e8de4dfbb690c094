package cloudreport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/tlsutil"
)

// ClientOptions configure a Client. Zero values mean the defaults.
type ClientOptions struct {
	Dialect    Dialect
	HST        string            // host name sent in INIT (delphi: part of the key); default "GATEHOUSE"
	DelphiHash legacycrypto.Hash // default SHA-1
	DelphiZlib bool
	Timeout    time.Duration // per request round trip (default 30 s)
	MaxReply   int           // longest reply line accepted (default 64 MiB)
	MaxInflate int           // largest inflated payload accepted (default 64 MiB)
	// TLS, when set, makes Dial run the protocol inside TLS (a Gatehouse
	// tls_listen port); the line protocol inside is unchanged.
	TLS *tls.Config
}

// ReplyError is an error reply from the server.
type ReplyError struct {
	Code string // "ERROR" in the seed dialect, the numeric code in delphi
	Text string
}

func (e *ReplyError) Error() string { return "cloudreport: server replied " + e.Code + " " + e.Text }

// Client speaks the protocol over one connection. It is not safe for
// concurrent use; open one Client per goroutine.
type Client struct {
	conn  net.Conn
	br    *bufio.Reader
	opt   ClientOptions
	codec Codec
	// cb and line are Info's memory, reused for every request (the
	// benchmarks' load generator must not cost more than the server).
	cb   codecBuf
	line []byte
}

// Dial connects to addr.
func Dial(ctx context.Context, addr string, opt ClientOptions) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cloudreport: dial: %w", err)
	}
	if opt.TLS != nil {
		to := opt.Timeout
		if to <= 0 {
			to = 30 * time.Second
		}
		hctx, cancel := context.WithTimeout(ctx, to)
		defer cancel()
		if conn, err = tlsutil.Client(hctx, conn, addr, opt.TLS); err != nil {
			return nil, fmt.Errorf("cloudreport: %w", err)
		}
	}
	return NewClient(conn, opt), nil
}

// NewClient wraps an established connection.
func NewClient(conn net.Conn, opt ClientOptions) *Client {
	if opt.HST == "" {
		opt.HST = "GATEHOUSE"
	}
	if opt.DelphiHash == "" {
		opt.DelphiHash = legacycrypto.SHA1
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.MaxReply <= 0 {
		opt.MaxReply = 64 << 20
	}
	if opt.MaxInflate <= 0 {
		opt.MaxInflate = 64 << 20
	}
	return &Client{conn: conn, br: bufio.NewReaderSize(conn, 8192), opt: opt}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SendRaw writes one raw request line (CRLF is added).
func (c *Client) SendRaw(line string) error {
	c.conn.SetDeadline(time.Now().Add(c.opt.Timeout))
	_, err := c.conn.Write([]byte(line + "\r\n"))
	return err
}

func (c *Client) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.opt.Timeout))
	b, err := readLine(c.br, c.opt.MaxReply)
	if err != nil {
		return "", fmt.Errorf("cloudreport: read reply: %w", err)
	}
	return strings.TrimSuffix(string(b), "\r"), nil
}

// readIndy reads one reply the way Indy's TIdReplyRFC does: lines until one
// shorter than four characters or whose fourth character is a space.
func (c *Client) readIndy() (code string, text []string, err error) {
	for i := 0; i < 1000; i++ {
		l, err := c.readLine()
		if err != nil {
			return "", nil, err
		}
		if i == 0 {
			// A seed-dialect server's "ERROR text" is no Indy end marker: a
			// real Indy client would wait for its read timeout. Report it at
			// once so a dialect mismatch reads as the server's error.
			if rest, ok := strings.CutPrefix(l, "ERROR "); ok {
				return "ERROR", []string{rest}, nil
			}
			code = strings.TrimSpace(l[:min(3, len(l))])
		}
		if len(l) > 4 {
			text = append(text, l[4:])
		} else {
			text = append(text, "")
		}
		if len(l) < 4 || l[3] == ' ' {
			return code, text, nil
		}
	}
	return "", nil, errors.New("cloudreport: reply has too many lines")
}

// roundTrip sends line and reads one reply. In the seed dialect a reply
// that carries data is "200 OK" followed by a "DATA=" line.
func (c *Client) roundTrip(line string, wantData bool) (data string, err error) {
	if err := c.SendRaw(line); err != nil {
		return "", fmt.Errorf("cloudreport: send: %w", err)
	}
	if c.opt.Dialect == Delphi {
		code, text, err := c.readIndy()
		if err != nil {
			return "", err
		}
		if code != "200" {
			return "", &ReplyError{Code: code, Text: strings.Join(text, " ")}
		}
		if !wantData {
			return "", nil
		}
		for _, t := range text {
			if v, ok := strings.CutPrefix(t, "DATA="); ok {
				return v, nil
			}
		}
		return "", errors.New("cloudreport: reply without DATA")
	}
	l, err := c.seedReply(wantData)
	if err != nil {
		return "", err
	}
	return string(l), nil
}

// seedReply reads a seed-dialect reply under the deadline the request's
// send set: "ERROR text" is a *ReplyError; otherwise, with wantData, a
// "200 OK" line and a "DATA=" line whose value is returned, and without,
// the one line. The bytes are valid until the next read.
func (c *Client) seedReply(wantData bool) ([]byte, error) {
	l, err := c.replyLine()
	if err != nil {
		return nil, err
	}
	if rest, ok := bytes.CutPrefix(l, []byte("ERROR ")); ok {
		return nil, &ReplyError{Code: "ERROR", Text: string(rest)}
	}
	if !wantData {
		return l, nil
	}
	if string(l) != "200 OK" {
		return nil, fmt.Errorf("cloudreport: unexpected reply %q", l)
	}
	if l, err = c.replyLine(); err != nil {
		return nil, err
	}
	d, ok := bytes.CutPrefix(l, []byte("DATA="))
	if !ok {
		return nil, fmt.Errorf("cloudreport: expected DATA line, got %q", l)
	}
	return d, nil
}

// InitReply is the server's answer to INIT.
type InitReply struct {
	Key string
	Len int
}

// Init sends INIT with dictionary index id and sets up the session key the
// way a client of the dialect derives it (seed: from the local address the
// server sees; delphi: from HST).
func (c *Client) Init(id int) (InitReply, error) {
	now := time.Now()
	line := fmt.Sprintf("INIT ID=%d DT=%s TM=%s HST=%s ATP=gatehouse AVR=1.0.0.0",
		id, now.Format("060102"), now.Format("150405"), c.opt.HST)
	if err := c.SendRaw(line); err != nil {
		return InitReply{}, fmt.Errorf("cloudreport: send: %w", err)
	}
	var code string
	var text []string
	var err error
	if c.opt.Dialect == Delphi {
		code, text, err = c.readIndy()
	} else {
		// The seed's INIT errors are one "ERROR …" line; success is Indy-shaped.
		var l string
		if l, err = c.readLine(); err == nil {
			if rest, ok := strings.CutPrefix(l, "ERROR "); ok {
				return InitReply{}, &ReplyError{Code: "ERROR", Text: rest}
			}
			code, text = strings.TrimSpace(l[:min(3, len(l))]), []string{l[min(4, len(l)):]}
			if len(l) >= 4 && l[3] == '-' {
				var l2 string
				if l2, err = c.readLine(); err == nil {
					text = append(text, l2[min(4, len(l2)):])
				}
			}
		}
	}
	if err != nil {
		return InitReply{}, err
	}
	if code != "200" {
		return InitReply{}, &ReplyError{Code: code, Text: strings.Join(text, " ")}
	}
	var r InitReply
	for _, t := range text {
		if v, ok := strings.CutPrefix(t, "KEY="); ok {
			r.Key = v
		} else if v, ok := strings.CutPrefix(t, "LEN="); ok {
			if r.Len, err = strconv.Atoi(v); err != nil {
				return InitReply{}, errors.New(`cloudreport: invalid answer: missing "LEN" parameter`)
			}
		}
	}
	if r.Key == "" || r.Len <= 0 {
		return InitReply{}, errors.New(`cloudreport: invalid answer: missing "KEY" or "LEN" parameter`)
	}
	if c.opt.Dialect == Delphi {
		if id < 1 || id > 10 {
			return InitReply{}, errors.New("cloudreport: delphi INIT id must be 1..10")
		}
		codec, err := NewDelphiCodec(DelphiKey(r.Key, id, r.Len, c.opt.HST), c.opt.DelphiHash, c.opt.DelphiZlib, c.opt.MaxInflate)
		if err != nil {
			return InitReply{}, err
		}
		c.codec = codec
	} else {
		host, _, _ := net.SplitHostPort(c.conn.LocalAddr().String())
		c.codec = NewSeedCodec(SeedKey(r.Key, clampIndex(id), host), c.opt.MaxInflate)
	}
	return r, nil
}

func clampIndex(id int) int {
	if id < 1 || id > 10 {
		return 0
	}
	return id
}

func (c *Client) dataCall(line string) (Fields, error) {
	if c.codec == nil {
		return nil, errors.New("cloudreport: Init first")
	}
	d, err := c.roundTrip(line, true)
	if err != nil {
		return nil, err
	}
	p, err := c.codec.Decrypt(d)
	if err != nil {
		return nil, fmt.Errorf("cloudreport: reply payload: %w", err)
	}
	return ParseFields(p), nil
}

// Info sends INFO with the given payload (TT=Test is added first when
// missing) and returns the decrypted reply payload.
func (c *Client) Info(f Fields) (Fields, error) {
	if c.codec == nil {
		return nil, errors.New("cloudreport: Init first")
	}
	_, hasTT := f.Get("TT")
	if bc, ok := c.codec.(bufCodec); ok && c.opt.Dialect == Seed {
		return c.infoSeed(bc, f, hasTT)
	}
	if !hasTT {
		f = append(Fields{{"TT", "Test"}}, f...)
	}
	enc, err := c.codec.Encrypt(f.Format())
	if err != nil {
		return nil, err
	}
	return c.dataCall("INFO DATA=" + enc)
}

// infoSeed is Info in the seed dialect, built and read in c's own memory:
// the same request bytes, one deadline for the round trip, the reply's
// lines read from the buffer and decrypted in place.
func (c *Client) infoSeed(bc bufCodec, f Fields, hasTT bool) (Fields, error) {
	b := &c.cb
	p := b.out[:0]
	if !hasTT {
		p = append(p, "TT=Test"...)
	}
	for _, kv := range f {
		if len(p) > 0 {
			p = append(p, "\r\n"...)
		}
		p = append(p, kv.Key...)
		p = append(p, '=')
		p = append(p, kv.Value...)
	}
	b.out = p
	line, err := bc.appendEncrypt(append(c.line[:0], "INFO DATA="...), b, p)
	if err != nil {
		return nil, err
	}
	line = append(line, "\r\n"...)
	c.line = line
	c.conn.SetDeadline(time.Now().Add(c.opt.Timeout))
	if _, err := c.conn.Write(line); err != nil {
		return nil, fmt.Errorf("cloudreport: send: %w", err)
	}
	d, err := c.seedReply(true)
	if err != nil {
		return nil, err
	}
	plain, err := bc.decryptBuf(b, string(d))
	if err != nil {
		return nil, fmt.Errorf("cloudreport: reply payload: %w", err)
	}
	return ParseFields(plain), nil
}

// replyLine is readLine without its own deadline (the request's send set
// one for the round trip), as bytes valid until the next read.
func (c *Client) replyLine() ([]byte, error) {
	b, err := readLine(c.br, c.opt.MaxReply)
	if err != nil {
		return nil, fmt.Errorf("cloudreport: read reply: %w", err)
	}
	return bytes.TrimSuffix(b, []byte("\r")), nil
}

// Ping sends PING and checks the dialect's answer.
func (c *Client) Ping() error {
	l, err := c.roundTrip("PING", false)
	if err != nil {
		return err
	}
	if c.opt.Dialect == Seed && l != "PONG" {
		return fmt.Errorf("cloudreport: unexpected PING reply %q", l)
	}
	return nil
}

// Vers asks for the update listing.
func (c *Client) Vers() (Fields, error) { return c.dataCall("VERS") }

// Download asks for one update file. When STATUS=OK it returns the content,
// checked against SIZE and SHA256.
func (c *Client) Download(name string) (Fields, []byte, error) {
	line := "DWNL"
	if name != "" {
		line += " F=" + name
	}
	f, err := c.dataCall(line)
	if err != nil {
		return nil, nil, err
	}
	if st, _ := f.Get("STATUS"); st != "OK" {
		return f, nil, nil
	}
	b64, _ := f.Get("FILE")
	content, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return f, nil, fmt.Errorf("cloudreport: download %s: %w", name, err)
	}
	size, _ := f.Get("SIZE")
	sum := sha256.Sum256(content)
	if want, _ := f.Get("SHA256"); want != hex.EncodeToString(sum[:]) || size != strconv.Itoa(len(content)) {
		return f, nil, fmt.Errorf("cloudreport: download %s: size or checksum mismatch", name)
	}
	return f, content, nil
}

// ReportError sends "ERRL <text>".
func (c *Client) ReportError(text string) error {
	text = strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
	_, err := c.roundTrip("ERRL "+text, false)
	return err
}

// Raw sends one line and returns the reply bytes that arrive until the
// reply is complete by the dialect's rules (for diagnostics and tests).
func (c *Client) Raw(line string, lines int) ([]string, error) {
	if err := c.SendRaw(line); err != nil {
		return nil, err
	}
	var out []string
	for range lines {
		l, err := c.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return out, err
		}
		out = append(out, l)
	}
	return out, nil
}
