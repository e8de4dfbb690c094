package zmqcmd

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"gatehouse/internal/logtext"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/pyexpr"
	"gatehouse/internal/zmtp"
)

// maxFrames is the most frames one ZMTP message may have: a request is
// one frame after its envelope (REQ, DEALER, a proxy's routing frames).
const maxFrames = 8

// Env is what a Server needs besides its Config: runtime dependencies,
// not knobs.
type Env struct {
	// Log receives messages that do not belong to a connection (nil:
	// discarded).
	Log *slog.Logger
	// Metrics receives the service's own series (nil: not exported).
	Metrics prometheus.Registerer
	// CurveKey is the server's CURVE key pair, with its secret (Build
	// loads it from the data folder). With it, the server also serves the
	// CURVE port (CurveHandler); curve_listen needs it.
	CurveKey *Cert
	// CurveAllowed decides on every CURVE connection whether a client key
	// may connect (AuthorizedKeys.Contains); needed with CurveKey.
	CurveAllowed func(k [32]byte) bool
}

// Server serves the zmqcmd protocol; it implements netsvc.Handler.
type Server struct {
	cfg   Config // as given, with Rand and Now filled in
	lim   Limits // cfg.computeLimits()
	log   *slog.Logger
	procs chan struct{}
	gate  computeGate
	cm    *computeMetrics
	curve *CurveHandler // nil without Env.CurveKey
}

var _ netsvc.Handler = (*Server)(nil)

// New checks cfg and returns a Server serving it. A nil cfg.Rand is
// crypto/rand, a nil cfg.Now time.Now.
func New(cfg Config, env Env) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	slots := cfg.MaxComputations
	if slots == 0 {
		slots = DefaultMaxComputations()
	}
	s := &Server{cfg: cfg, lim: cfg.computeLimits(), log: log, procs: make(chan struct{}, cfg.MaxProcs),
		gate: computeGate{slots: make(chan struct{}, slots)}, cm: newComputeMetrics()}
	if env.CurveKey != nil {
		if !env.CurveKey.HasSecret {
			return nil, errors.New("zmqcmd: the CURVE port needs the server's secret key")
		}
		if env.CurveAllowed == nil {
			return nil, errors.New("zmqcmd: the CURVE port needs an authorized-keys check")
		}
		s.curve = &CurveHandler{s: s, key: *env.CurveKey, allowed: env.CurveAllowed}
	} else if cfg.CurveListen != "" {
		return nil, errors.New("zmqcmd: curve_listen is set but no CURVE server key was given")
	}
	if env.Metrics != nil {
		for _, c := range s.collectors() {
			if err := env.Metrics.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// ServeConn runs one ZMTP connection: handshake as a ROUTER, then one
// reply per request, in order. Each connection has its own goroutine, so a
// slow os command on one connection never delays another's compute.
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	return s.serve(ctx, c, nil)
}

// serve runs one connection; curve, when set, is the CURVE port's
// mechanism (see curve.go), otherwise the legacy NULL mechanism.
func (s *Server) serve(ctx context.Context, c *netsvc.Conn, curve *zmtp.Curve) error {
	c.StartHandshake()
	zc, err := zmtp.Handshake(c, zmtp.Options{
		SocketType: "ROUTER",
		Identity:   []byte{},
		Accept:     []string{"REQ", "DEALER"},
		Limits:     zmtp.Limits{MaxFrame: s.cfg.MaxFrame, MaxFrames: maxFrames},
		Curve:      curve,
		// Once a request starts, all of it must arrive within the message
		// timeout: a peer trickling bytes cannot hold a connection and its
		// buffers for ever.
		MessageStarted: c.StartMessage,
	})
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.HandshakeFailed(handshakeReason(err))
		}
		if errors.Is(err, zmtp.ErrUnauthorized) {
			c.Log().Info("CURVE client refused", "err", err)
		}
		return fmt.Errorf("handshake: %w", err)
	}
	c.EndHandshake()
	log := c.Log().With("peer_type", zc.PeerType)
	authenticated := zc.Mechanism() == "CURVE"
	if authenticated {
		log = log.With("client_key", zmtp.KeyText(zc.PeerKey))
	}
	log.Debug("zmtp ready", "zmtp", fmt.Sprintf("%d.%d", zc.Peer.Major, zc.Peer.Minor), "mechanism", zc.Mechanism())
	var buf []byte
	var frames [][]byte
	for {
		if ctx.Err() != nil {
			return nil
		}
		// The request's frames are reused by the next read; everything
		// taken from them is done with once the reply is written.
		msg, err := zc.ReadMessageReuse()
		c.EndMessage()
		if err != nil {
			if errors.Is(err, zmtp.ErrProtocol) {
				log.Info("closing connection on protocol error", "err", err)
			}
			if errors.Is(err, io.EOF) || isClosed(err) {
				return nil
			}
			return err
		}
		env, body := splitEnvelope(msg)
		buf = s.handleOn(ctx, c.Request, log, buf[:0], body, authenticated)
		frames = append(append(frames[:0], env...), buf)
		if err := zc.WriteMessage(frames...); err != nil {
			return fmt.Errorf("write reply: %w", err)
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a big reply's buffer for the connection's life
		}
	}
}

func isClosed(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.As(err, &ne) && ne.Timeout()
}

func handshakeReason(err error) string {
	switch {
	case errors.Is(err, zmtp.ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, zmtp.ErrProtocol):
		return "zmtp protocol"
	case isClosed(err):
		return "timeout"
	}
	return "io"
}

// splitEnvelope separates ROUTER routing frames from the request body: all
// frames up to and including the first empty delimiter form the envelope
// and are echoed back (REQ, DEALER with delimiter, proxies); without a
// delimiter the whole message is the body and the reply has no envelope
// (bare DEALER; docs/zmqcmd.md, "Transport and envelopes").
func splitEnvelope(msg [][]byte) (env, body [][]byte) {
	for i, f := range msg {
		if len(f) == 0 {
			return msg[:i+1], msg[i+1:]
		}
	}
	return nil, msg
}

// handle answers one request body, appending the reply to buf. Every
// request is wrapped in c.Request so metrics and graceful shutdown see it.
func (s *Server) handle(ctx context.Context, begin func(ctx context.Context, cmd string) (context.Context, func(netsvc.Status)), log *slog.Logger, buf []byte, body [][]byte) []byte {
	return s.handleOn(ctx, begin, log, buf, body, false)
}

// handleOn is handle for a connection that did (authenticated, the CURVE
// port) or did not authenticate its client.
func (s *Server) handleOn(ctx context.Context, begin func(ctx context.Context, cmd string) (context.Context, func(netsvc.Status)), log *slog.Logger, buf []byte, body [][]byte, authenticated bool) []byte {
	if len(body) != 1 {
		_, done := begin(ctx, "invalid")
		defer done(netsvc.StatusClientError)
		msg := msgMultipart
		if len(body) == 0 {
			msg = msgInvalidJSON
		}
		log.Info("request refused", "reason", msg, "frames", len(body))
		r := AppendError(buf, msg)
		return r
	}
	var req Request
	if err := decodeRequest(&req, body[0]); err != nil {
		_, done := begin(ctx, "invalid")
		defer done(netsvc.StatusClientError)
		log.Info("request refused", "reason", err.Error(), "bytes", len(body[0]))
		r := AppendError(buf, err.Error())
		return r
	}
	kind := commandKind(req.CommandType)
	if req.CommandType == nil {
		_, done := begin(ctx, "invalid")
		defer done(netsvc.StatusClientError)
		log.Info("request refused", "reason", "missing command_type")
		r := AppendError(buf, msgMissingPrefix+"command_type")
		return r
	}
	switch kind {
	case "compute":
		// The evaluation holds no store or process; while it waits for a
		// slot, shutdown (ctx) still ends the wait with the busy reply.
		_, done := begin(ctx, "compute")
		if req.Expression == nil {
			done(netsvc.StatusClientError)
			log.Info("compute refused", "reason", "missing expression")
			r := AppendError(buf, msgMissingPrefix+"expression")
			return r
		}
		// Every compute is logged at info (docs/zmqcmd.md); the attributes
		// are only built when that level is enabled, and without boxing.
		logOn := log.Enabled(ctx, slog.LevelInfo)
		var start time.Time
		if logOn {
			start = s.cfg.Now()
		}
		expr, isStr := jsonString(req.Expression)
		var r, result []byte
		var err error
		if isStr {
			r, result, err = s.computeString(ctx, buf, expr)
		} else {
			r, result, err = computeReply(buf, req.Expression, s.lim)
		}
		if err != nil {
			s.countRefusal(err)
			done(computeStatus(err))
			if logOn {
				log.LogAttrs(ctx, slog.LevelInfo, "compute", slog.String("expression", logtext.Peer(expr, 200)),
					slog.String("status", "error"), slog.String("error_kind", pyexpr.Kind(err)),
					slog.String("message", logtext.Peer(pyexpr.Message(err), 200)), slog.Duration("duration", s.cfg.Now().Sub(start)))
			}
			return r
		}
		done(netsvc.StatusOK)
		if logOn {
			log.LogAttrs(ctx, slog.LevelInfo, "compute", slog.String("expression", logtext.Peer(expr, 200)),
				slog.String("status", "success"), slog.String("result", logtext.Peer(string(result), 200)),
				slog.Duration("duration", s.cfg.Now().Sub(start)))
		}
		return r
	case "os":
		// A running os command is let finish within its own timeout when
		// shutdown begins: it runs under the request's context.
		rctx, done := begin(ctx, "os")
		if s.cfg.OSRequiresCurve && !authenticated {
			done(netsvc.StatusRefused)
			log.Info("os refused", "reason", "os_requires_curve and the client is not CURVE-authenticated")
			return AppendError(buf, msgOSNeedsCurve)
		}
		r, status := s.osCommand(rctx, log, buf, &req)
		done(status)
		return r
	}
	_, done := begin(ctx, "invalid")
	defer done(netsvc.StatusClientError)
	log.Info("request refused", "reason", "invalid command type", "command_type", logtext.Peer(string(req.CommandType), 64))
	r := AppendError(buf, msgInvalidType)
	return r
}

// computeStatus is the request status of a compute error: the server's
// bounds (CPU budget, its estimate, size limits, no free slot) refused it,
// compute_timeout ended it, or the expression itself failed as it would in
// Python (syntax, names, runtime errors: the client's).
func computeStatus(err error) netsvc.Status {
	switch pyexpr.Kind(err) {
	case "budget", "estimate", "limit", "busy":
		return netsvc.StatusRefused
	case "timeout":
		return netsvc.StatusTimeout
	}
	return netsvc.StatusClientError
}

// commandKind is jsonString(raw) without the allocation for the two
// command types every request names.
func commandKind(raw json.RawMessage) string {
	switch string(raw) {
	case `"compute"`:
		return "compute"
	case `"os"`:
		return "os"
	}
	s, _ := jsonString(raw)
	return s
}

// parameters turns the raw "parameters" value into strings the way the
// original's ' '.join(parameters) did: a list of strings, or a string
// iterated by character; a missing value counts as [] (docs/zmqcmd.md,
// "Request shapes").
func parameters(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, _ := jsonString(raw)
		var out []string
		for _, r := range s {
			out = append(out, string(r))
		}
		return out, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, refuse("%s", msgInvalidJSON)
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			s, ok := jsonString(it)
			if !ok {
				return nil, refuse("sequence item %d: expected str instance, %s found", i, jsonPyType(it))
			}
			out = append(out, s)
		}
		return out, nil
	case '{':
		return nil, refuse("parameters must be a list of strings")
	}
	return nil, refuse("can only join an iterable")
}

// jsonPyType names the Python type json.loads gives raw.
func jsonPyType(raw json.RawMessage) string {
	switch raw[0] {
	case '[':
		return "list"
	case '{':
		return "dict"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	case '"':
		return "str"
	}
	if strings.ContainsAny(string(raw), ".eE") {
		return "float"
	}
	return "int"
}

func (s *Server) osCommand(ctx context.Context, log *slog.Logger, buf []byte, req *Request) ([]byte, netsvc.Status) {
	if req.CommandName == nil {
		log.Info("os refused", "reason", "missing command_name")
		return AppendError(buf, msgMissingPrefix+"command_name"), netsvc.StatusClientError
	}
	name, ok := jsonString(req.CommandName)
	if !ok {
		log.Info("os refused", "reason", "command_name is not a string")
		return AppendError(buf, "command_name must be a string"), netsvc.StatusClientError
	}
	params, err := parameters(req.Parameters)
	if err != nil {
		log.Info("os refused", "command", logtext.Peer(name, 64), "reason", err.Error())
		return AppendError(buf, err.Error()), netsvc.StatusClientError
	}
	spec, known := commandSpecs[name]
	if !known || !slices.Contains(s.cfg.Allow, name) {
		log.Info("os refused", "command", logtext.Peer(name, 64), "reason", "not allowed")
		return AppendError(buf, "Command not allowed: "+logtext.Peer(name, 64)), netsvc.StatusRefused
	}
	logArgs := logtext.Peer(strings.Join(params, " "), 200)
	if spec.builtin != nil {
		out := spec.builtin(params)
		if len(out) > s.cfg.MaxOutput {
			out = out[:s.cfg.MaxOutput] + truncMarker
		}
		log.Info("os command", "command", name, "args", logArgs, "status", "success", "builtin", true)
		return AppendStringResult(buf, out), netsvc.StatusOK
	}
	argv, err := spec.argv(s, params)
	if err != nil {
		log.Info("os refused", "command", name, "args", logArgs, "reason", err.Error())
		return AppendError(buf, err.Error()), netsvc.StatusRefused
	}
	path, found := s.lookPath(name)
	if !found {
		log.Warn("os command not installed", "command", name)
		return AppendError(buf, "Command not available: "+name), netsvc.StatusServerError
	}
	// A bounded number of processes run at once; a client waits at most
	// the command timeout for a slot.
	wait := time.NewTimer(s.cfg.CommandTimeout)
	defer wait.Stop()
	select {
	case s.procs <- struct{}{}:
	case <-wait.C:
		log.Warn("os refused", "command", name, "reason", "too many commands running")
		return AppendError(buf, "Server busy, try again later"), netsvc.StatusRefused
	}
	start := s.cfg.Now()
	// ctx is the request's (see handleOn): shutdown does not cut it.
	res, err := s.run(ctx, path, argv)
	<-s.procs
	dur := s.cfg.Now().Sub(start)
	if err != nil {
		log.Warn("os command failed to start", "command", name, "err", err)
		return AppendError(buf, "Command could not be started"), netsvc.StatusServerError
	}
	if res.timedOut {
		log.Info("os command", "command", name, "args", logArgs, "status", "timeout", "duration", dur)
		return AppendError(buf, fmt.Sprintf("Command timed out after %s", s.cfg.CommandTimeout)), netsvc.StatusTimeout
	}
	out := normalizeOutput(res.stdout)
	if res.dropped > 0 {
		out += truncMarker
	}
	log.Info("os command", "command", name, "args", logArgs, "exit_code", res.exitCode,
		"stdout_bytes", len(res.stdout)+int(res.dropped), "stdout", logtext.Peer(out, 200),
		"stderr", logtext.Peer(res.stderr, 200), "duration", dur)
	// A non-zero exit is the command's result, not a failure of the
	// service: the request was served (ok), whether the reply says success
	// (the original) or, with fail_on_exit_code, an error.
	if res.exitCode != 0 && s.cfg.FailOnExitCode {
		return AppendError(buf, fmt.Sprintf("Command failed with exit code %d", res.exitCode)), netsvc.StatusOK
	}
	return AppendStringResult(buf, out), netsvc.StatusOK
}

const truncMarker = "\n[output truncated]\n"
