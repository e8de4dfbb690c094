package backup

import (
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
func (s *Server) uploadBody(c *netsvc.Conn) io.Reader {
	c.StartTransferRate(s.opt.MinUploadRate)
	return c
}
