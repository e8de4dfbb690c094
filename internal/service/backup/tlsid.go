package backup

import "gatehouse/internal/netsvc"

// certMismatch reports whether a request must be refused because the
// connection's verified TLS client certificate (mutual TLS on the
// tls_listen port) names another client: its subject common name is the
// client id (dashed UUID or 32 hex digits) it may act as. A 1025 carries
// no client id (the server draws one) and is never refused here; plain
// connections and TLS without client certificates are never refused.
func certMismatch(c *netsvc.Conn, h RequestHeader) bool {
	cn, ok := netsvc.PeerIdentity(c)
	if !ok || h.Code == CodeRegister {
		return false
	}
	if id, err := ParseClientID(cn); err == nil && id == h.ClientID {
		return false
	}
	c.Log().Info("request refused: client id is not the one of the TLS client certificate",
		"code", h.Code, "client", h.ClientID.String(), "certificate_cn", cn)
	return true
}
