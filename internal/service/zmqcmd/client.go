package zmqcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/zmtp"
)

// Client is a REQ socket speaking to a zmqcmd server (ours or the
// original) over one TCP connection. Requests on one Client are
// serialised; open several Clients for concurrency.
type Client struct {
	mu      sync.Mutex
	nc      net.Conn
	zc      *zmtp.Conn
	timeout time.Duration
	broken  error
}

// DefaultTimeout bounds one round trip when the context has no deadline.
const DefaultTimeout = 30 * time.Second

// Dial connects to addr ("host:port" or "tcp://host:port") and performs
// the ZMTP handshake as a REQ socket. timeout bounds the dial, the
// handshake and, later, each round trip without a context deadline (0
// means DefaultTimeout).
func Dial(ctx context.Context, addr string, timeout time.Duration) (*Client, error) {
	return dialZMTP(ctx, addr, timeout, nil)
}

// DialCurve is Dial to the CURVE port: serverKey is the server's public
// key ('gatehouse keys zmqcmd init' prints it), key this client's key pair
// (its public key must be in the server's authorized list).
func DialCurve(ctx context.Context, addr string, timeout time.Duration, serverKey [32]byte, key Cert) (*Client, error) {
	if !key.HasSecret {
		return nil, errors.New("zmqcmd: CURVE client key has no secret key")
	}
	return dialZMTP(ctx, addr, timeout, &zmtp.Curve{PublicKey: key.Public, SecretKey: key.Secret, ServerKey: serverKey})
}

func dialZMTP(ctx context.Context, addr string, timeout time.Duration, curve *zmtp.Curve) (*Client, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	addr = strings.TrimPrefix(addr, "tcp://")
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("zmqcmd: dial %s: %w", addr, err)
	}
	nc.SetDeadline(deadline(ctx, timeout))
	zc, err := zmtp.Handshake(nc, zmtp.Options{
		SocketType: "REQ",
		Identity:   []byte{},
		Accept:     []string{"ROUTER", "REP"},
		Limits:     zmtp.Limits{MaxFrame: 16 << 20, MaxFrames: 8},
		Curve:      curve,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("zmqcmd: handshake with %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	return &Client{nc: nc, zc: zc, timeout: timeout}, nil
}

func deadline(ctx context.Context, timeout time.Duration) time.Time {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	return dl
}

// RoundTrip sends one request frame and returns the reply frame, exactly
// as REQ does: ["", req] out, ["", reply] back. After a failure (timeout,
// cancel, protocol error) the Client is unusable, like a REQ socket whose
// reply never came.
func (c *Client) RoundTrip(ctx context.Context, req []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return nil, c.broken
	}
	c.nc.SetDeadline(deadline(ctx, c.timeout))
	if ctx.Done() != nil {
		// A context that can never be cancelled needs no watcher.
		stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
		defer stop()
	}
	reply, err := c.roundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		c.broken = fmt.Errorf("zmqcmd: connection unusable after: %w", err)
		return nil, err
	}
	return reply, nil
}

func (c *Client) roundTrip(req []byte) ([]byte, error) {
	if err := c.zc.WriteMessage(nil, req); err != nil {
		return nil, fmt.Errorf("zmqcmd: send: %w", err)
	}
	msg, err := c.zc.ReadMessageReuse()
	if err != nil {
		return nil, fmt.Errorf("zmqcmd: receive: %w", err)
	}
	if len(msg) != 2 || len(msg[0]) != 0 {
		return nil, fmt.Errorf("zmqcmd: reply of %d frames is not a REQ reply", len(msg))
	}
	// The frame is reused by the next read; the caller keeps its own copy.
	return append([]byte(nil), msg[1]...), nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.nc.Close() }

// Reply is a decoded reply. Result keeps the JSON text of the result
// (which may be NaN or Infinity, as the original emitted them).
type Reply struct {
	Status  string
	Result  json.RawMessage
	Message string
	Raw     []byte
}

// Err returns the reply's error message as an error, or nil on success.
func (r *Reply) Err() error {
	if r.Status == "success" {
		return nil
	}
	return &ReplyError{Message: r.Message}
}

// ReplyError is an error reply from the server.
type ReplyError struct{ Message string }

func (e *ReplyError) Error() string { return "server: " + e.Message }

// ResultString returns a string result (os output) decoded.
func (r *Reply) ResultString() (string, bool) {
	return jsonString(r.Result)
}

var successPrefix = []byte(`{"status": "success", "result": `)

// ParseReply decodes a reply frame. The success shape is taken apart by
// its fixed prefix first, because Python's json.dumps can emit NaN and
// Infinity, which encoding/json refuses.
func ParseReply(raw []byte) (*Reply, error) {
	r := &Reply{Raw: raw}
	if bytes.HasPrefix(raw, successPrefix) && bytes.HasSuffix(raw, []byte("}")) {
		r.Status = "success"
		r.Result = json.RawMessage(raw[len(successPrefix) : len(raw)-1])
		return r, nil
	}
	var m struct {
		Status  string          `json:"status"`
		Result  json.RawMessage `json:"result"`
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("zmqcmd: reply is not JSON: %w", err)
	}
	if m.Status == "" {
		return nil, errors.New("zmqcmd: reply has no status")
	}
	r.Status, r.Result = m.Status, m.Result
	if s, ok := jsonString(m.Message); ok {
		r.Message = s
	} else if m.Message != nil {
		r.Message = string(m.Message)
	}
	return r, nil
}

// Compute sends {"command_type": "compute", "expression": expr}.
func (c *Client) Compute(ctx context.Context, expr string) (*Reply, error) {
	raw, err := c.RoundTrip(ctx, ComputeRequest(expr))
	if err != nil {
		return nil, err
	}
	return ParseReply(raw)
}

// OS sends {"command_type": "os", "command_name": name, "parameters": params}.
func (c *Client) OS(ctx context.Context, name string, params []string) (*Reply, error) {
	raw, err := c.RoundTrip(ctx, OSRequest(name, params))
	if err != nil {
		return nil, err
	}
	return ParseReply(raw)
}
