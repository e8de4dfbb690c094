package cloudreport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sort"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// session is one connection's state.
type session struct {
	s    *Server
	c    *netsvc.Conn
	peer string // peer IP text, the seed's host part
	// drain is closed when the daemon starts to drain: a request that has
	// not started its work yet (a DWNL waiting for a slot) gives up.
	drain <-chan struct{}

	initialized bool
	init        InitArgs
	codec       Codec
	clientID    string // registry id after a successful INFO

	failures int
	reports  int

	// afterWrite, when set, runs once the current reply is written (or
	// failed to be): it frees a download slot.
	afterWrite func()
	// send, when set, writes the current reply itself (a streamed DWNL)
	// instead of returning its bytes.
	send func() error

	// buf is the current request's codec memory (nil between requests:
	// an idle session holds none); toks is reused for every request's
	// tokens.
	buf  *codecBuf
	toks []string
}

// maxKeptTokens bounds the token slice a session keeps between requests.
const maxKeptTokens = 64

// scratch is the current request's codecBuf, taken from the pool on first
// use and put back once the reply is written.
func (ss *session) scratch() *codecBuf {
	if ss.buf == nil {
		ss.buf = getCodecBuf()
	}
	return ss.buf
}

// decrypt is ss.codec.Decrypt, into the request's codecBuf when the codec
// can (the result is then valid until the reply is written).
func (ss *session) decrypt(data string) ([]byte, error) {
	if bc, ok := ss.codec.(bufCodec); ok {
		return bc.decryptBuf(ss.scratch(), data)
	}
	return ss.codec.Decrypt(data)
}

// dataReply is dataReply(dialect, ss.codec.Encrypt(plain)), built in the
// request's codecBuf when the codec can.
func (ss *session) dataReply(plain []byte) ([]byte, error) {
	d := ss.s.dialect
	bc, ok := ss.codec.(bufCodec)
	if !ok {
		out, err := ss.codec.Encrypt(plain)
		if err != nil {
			return nil, err
		}
		return dataReply(d, out), nil
	}
	b := ss.scratch()
	r := append(b.reply[:0], dataReplyPrefix(d)...)
	r, err := bc.appendEncrypt(r, b, plain)
	if err != nil {
		return nil, err
	}
	r = append(r, "\r\n"...)
	b.reply = r
	return r, nil
}

var errLineTooLong = errors.New("cloudreport: request line too long")

// readLine returns the next line without its LF. A final line without LF
// is returned at EOF, as asyncio's readline does.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == nil {
			if len(buf)+len(frag)-1 > max {
				return nil, errLineTooLong
			}
			if buf == nil {
				return frag[:len(frag)-1], nil
			}
			return append(buf, frag[:len(frag)-1]...), nil
		}
		if len(buf)+len(frag) > max {
			return nil, errLineTooLong
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			buf = append(buf, frag...)
		case errors.Is(err, io.EOF) && len(buf)+len(frag) > 0:
			return append(buf, frag...), nil
		default:
			return nil, err
		}
	}
}

// lineBuffered reports whether br holds a whole line (its LF) already.
func lineBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(buf, '\n') >= 0
}

// ServeConn runs one connection: read a line, answer it, until an empty
// line, EOF, an error, a closing reply or shutdown.
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	ss := &session{s: s, c: c, drain: ctx.Done()}
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		ss.peer = host
	}
	defer ss.release()
	// Until the first good INIT the connection gets the handshake deadline
	// (the seed waited forever for a half line).
	c.StartHandshake()
	br := bufio.NewReaderSize(c, 4096)
	for ctx.Err() == nil {
		bounded := false
		if ss.initialized {
			// After INIT: once a line starts, all of it must arrive within
			// the message timeout (before INIT the handshake bound holds).
			// A line already whole in the buffer needs no read, so no bound.
			if _, err := br.Peek(1); err == nil && !lineBuffered(br) {
				c.StartMessage()
				bounded = true
			}
		}
		line, err := readLine(br, s.cfg.MaxLine)
		if bounded {
			c.EndMessage()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		req, ok := parseLine(line, ss.toks)
		if !ok {
			return nil
		}
		if cap(req.Tokens) <= maxKeptTokens {
			ss.toks = req.Tokens[:0]
		}
		// The request runs under the context Request returns: the
		// registry lookup, the report insert and an update's stream finish
		// even when shutdown cancels ctx meanwhile.
		rctx, done := c.Request(ctx, metricName(req.Cmd))
		reply, status, closeAfter := ss.handle(rctx, req)
		var werr error
		if ss.send != nil {
			werr = ss.send()
			ss.send = nil
		} else if len(reply) > 0 {
			_, werr = c.Write(reply)
		}
		if werr != nil {
			status = writeStatus(werr)
		}
		if ss.afterWrite != nil {
			ss.afterWrite()
			ss.afterWrite = nil
		}
		if ss.buf != nil {
			putCodecBuf(ss.buf)
			ss.buf = nil
		}
		done(status)
		if werr != nil {
			return werr
		}
		if closeAfter {
			return nil
		}
	}
	return nil
}

// metricName keeps the metrics' label set bounded.
func metricName(cmd string) string {
	switch cmd {
	case "INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP":
		return cmd
	}
	return "UNKNOWN"
}

func (ss *session) handle(ctx context.Context, r Request) (reply []byte, status netsvc.Status, closeAfter bool) {
	d := ss.s.dialect
	if r.Cmd == "INIT" {
		return ss.handleInit(r)
	}
	// The seed checks initialization before it looks at the command, so
	// an unknown command before INIT is "not initialized" too.
	if !ss.initialized {
		return errorReply(d, failNotInit, ""), netsvc.StatusClientError, false
	}
	known := false
	switch r.Cmd {
	case "PING", "INFO", "VERS", "DWNL", "ERRL":
		known = true
	case "GREQ", "SRSP":
		known = d == Delphi
	}
	if !known {
		ss.c.Log().Debug("unknown command", "cmd", r.Cmd)
		return errorReply(d, failUnknown, r.Cmd), netsvc.StatusClientError, false
	}
	switch r.Cmd {
	case "PING":
		return pongReply(d), netsvc.StatusOK, false
	case "INFO":
		return ss.handleInfo(ctx, r)
	case "VERS":
		return ss.handleVers(ctx)
	case "DWNL":
		return ss.handleDwnl(ctx, r)
	case "ERRL":
		return ss.handleErrl(ctx, r)
	case "GREQ":
		// No request relay exists; answer "nothing pending" the way HEAD's
		// reconstruction does so a polling Indy client does not fail.
		return []byte("200 CMD=0 DATA=\r\n"), netsvc.StatusOK, false
	default: // SRSP
		return okReply(d), netsvc.StatusOK, false
	}
}

// shortArg bounds wire text echoed in an error reply (an INIT ID may have
// thousands of digits).
func shortArg(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// authFailed counts a failed decrypt or unknown client and says whether the
// connection must now be closed: without a MAC every decrypt answer is an
// oracle, so a connection gets only a few tries.
func (ss *session) authFailed(reason string) bool {
	ss.failures++
	ss.c.HandshakeFailed(reason)
	return ss.failures >= ss.s.cfg.MaxAuthFailures
}

// claimInit registers ss under an INIT ID for the compat duplicate check.
// It never removes another connection's entry (the seed's cleanup did).
func (s *Server) claimInit(ss *session, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byInit[id]; ok && other != ss {
		return false
	}
	if ss.initialized && s.byInit[ss.init.Text] == ss {
		delete(s.byInit, ss.init.Text) // re-INIT: no stale entry (flaw 7 in docs/cloudreport.md, "Seed flaws the service fixes")
	}
	s.byInit[id] = ss
	return true
}

// claimClient adds ss to the live sessions of a registry id. Another live
// session of the same id is left alone, as the seed did: closing it would
// let anyone who knows an id kick that client offline. Several sessions of
// one id are counted instead.
func (s *Server) claimClient(ss *session, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.clientID == id {
		return
	}
	s.removeSessionLocked(ss)
	set := s.byClient[id]
	if set == nil {
		set = map[*session]struct{}{}
		s.byClient[id] = set
	}
	set[ss] = struct{}{}
	if n := len(set); n > 1 {
		if n == 2 {
			s.m.multiIDs.Inc()
		}
		s.m.duplicates.Inc()
		ss.c.Log().Info("client has several live sessions", "client", id, "sessions", n)
	}
}

// removeSessionLocked takes ss out of its client's live sessions.
func (s *Server) removeSessionLocked(ss *session) {
	set := s.byClient[ss.clientID]
	if ss.clientID == "" || set == nil {
		return
	}
	if _, ok := set[ss]; !ok {
		return
	}
	delete(set, ss)
	switch len(set) {
	case 1:
		s.m.multiIDs.Dec()
	case 0:
		delete(s.byClient, ss.clientID)
	}
}

func (s *Server) dropClient(ss *session) {
	s.mu.Lock()
	s.removeSessionLocked(ss)
	s.mu.Unlock()
}

func (ss *session) release() {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.initialized && s.byInit[ss.init.Text] == ss {
		delete(s.byInit, ss.init.Text)
	}
	s.removeSessionLocked(ss)
}

// Sessions is the number of live sessions of a registry id.
func (s *Server) Sessions(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byClient[store.NormalizeCloudreportID(id)])
}

// LiveClients lists the registry ids with a live session, sorted.
func (s *Server) LiveClients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byClient))
	for id := range s.byClient {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// writeStatus is the request status of a reply that could not be written
// whole: the update source failing (or changing) under a streamed DWNL is
// the server's fault, a write deadline (write_timeout, download_min_rate)
// a timeout, anything else the peer going away.
func writeStatus(err error) netsvc.Status {
	var re *updateReadError
	var ne net.Error
	switch {
	case errors.Is(err, errUpdateChanged), errors.As(err, &re):
		return netsvc.StatusServerError
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return netsvc.StatusTimeout
	}
	return netsvc.StatusClosed
}
