package backup

import (
	"errors"
	"io"

	"gatehouse/internal/netsvc"
)

// uploadBody puts the rest of a 1028 under the progressive minimum rate:
// once the service's rate_grace has passed, the bytes received since the
// file header must at every moment be at least min_upload_rate × (elapsed −
// rate_grace). netsvc checks it on every read, so a client that declares a
// huge file and trickles loses its slot as soon as it falls behind (counted
// as gatehouse_connections_closed_total{reason="too_slow"}), not after a
// deadline computed from the size it declared. The caller ends the rule
// with c.EndTransfer before the answer goes out.
func (s *Server) uploadBody(c *netsvc.Conn) *countingReader {
	c.StartTransferRate(s.cfg.MinUploadRate)
	return &countingReader{r: c}
}

// countingReader counts the bytes of the 1028 payload read so far.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Registration limit defaults: a fleet of a thousand clients behind one
// NAT address can all register at once, and then ten more every second; a
// flood from one address (5,000 registrations a second grew the store by
// 5 MB) is held to that.
const (
	DefaultRegisterRate  = 10
	DefaultRegisterBurst = 1000
)

// RateLimitedWhat are the gatehouse_rate_limited_total "what" values the
// service counts.
var RateLimitedWhat = []string{"register"}

// registerLimiter builds the per-address bucket table for 1025 from
// register_rate and register_burst (nil: register_rate = 0, no limit).
func registerLimiter(cfg Config) *netsvc.AddrLimiter {
	if cfg.RegisterRate <= 0 {
		return nil
	}
	return netsvc.NewAddrLimiter(cfg.RegisterRate, max(cfg.RegisterBurst, 1))
}

// errRegisterLimited ends a refused registration without an answer.
var errRegisterLimited = errors.New("backup: registration rate limit reached for this address")

// allowRegister takes a token for one 1025 from the client's address. A
// refused registration is counted (gatehouse_rate_limited_total{what=
// "register"}) and closed without an answer: that is one of the original's
// own failure answers to 1025 (it gave none when its handler failed), and
// the one the C++ client survives — it retries up to three times and then
// reports a network error, where a 2107 (the original's other answer) would
// crash it (docs/backup.md).
func (s *Server) allowRegister(c *netsvc.Conn) bool {
	if s.regLimit.Allow(c.RemoteIP()) {
		return true
	}
	c.RateLimited("register")
	return false
}

// MetricCommands are the request names ServeConn passes to Conn.Request
// (CodeName of every code, and "unknown").
func MetricCommands() []string {
	var out []string
	for _, code := range []uint16{CodeRegister, CodePublicKey, CodeReconnect, CodeFile, CodeCRCOK, CodeCRCRetry, CodeCRCFail, CodeList, CodeRestore, 0} {
		out = append(out, CodeName(code))
	}
	return out
}
