package cloudreport

import (
	"context"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

const (
	maxReportText = 4 << 10
	maxReportData = 16 << 10
)

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func (ss *session) handleErrl(ctx context.Context, r Request) ([]byte, netsvc.Status, bool) {
	s := ss.s
	var plain []byte
	if data, ok := r.Param("DATA"); ok {
		p, err := ss.codec.Decrypt(data)
		if err != nil {
			return errorReply(s.dialect, failDecrypt, ""), netsvc.StatusRefused, ss.authFailed("decrypt failed")
		}
		plain = p
	}
	who := ss.clientID
	if who == "" {
		// Clients report "Unable to check credentials" before any INFO
		// succeeded, so reports are taken after INIT alone.
		who = "init:" + ss.init.Text
		if len(who) > 32 {
			who = who[:32]
		}
	}
	ss.reports++
	if ss.reports > s.cfg.MaxErrorReports {
		if ss.reports == s.cfg.MaxErrorReports+1 {
			ss.c.Log().Warn("ERRL: per-connection report limit reached; further reports are not stored", "client", who)
		}
		// Answered 200 OK as the seed would, but not stored: a limit.
		return okReply(s.dialect), netsvc.StatusRefused, false
	}
	e := store.CloudreportError{
		ClientID: who,
		Peer:     ss.peer,
		Created:  s.cfg.Now(),
		Text:     Latin1ToUTF8(truncate([]byte(r.Rest), maxReportText)),
		Data:     Latin1ToUTF8(truncate(plain, maxReportData)),
	}
	if err := ss.s.reg.CloudreportAddError(ctx, e); err != nil {
		// Never a success for a report that was not stored: the seed's own
		// failure reply for ERRL (without the exception text).
		ss.c.Log().Error("ERRL: cannot store report; answered with an error", "client", who, "err", err)
		return errorReply(s.dialect, failErrl, ""), netsvc.StatusServerError, false
	}
	ss.s.pruneReports(ctx, ss.c)
	ss.c.Log().Info("ERRL", "client", who, "text", Latin1ToUTF8(truncate([]byte(r.Rest), 200)))
	return okReply(s.dialect), netsvc.StatusOK, false
}

// pruneReports keeps the ERRL table under MaxStoredReports, checking every
// so many inserts so the cost stays off most requests.
func (s *Server) pruneReports(ctx context.Context, c *netsvc.Conn) {
	every := int64(max(1, min(256, s.cfg.MaxStoredReports/8)))
	if s.stored.Add(1)%every != 0 {
		return
	}
	n, err := s.reg.CloudreportPruneErrors(ctx, s.cfg.MaxStoredReports)
	if err != nil {
		c.Log().Error("ERRL: cannot prune old reports", "err", err)
	} else if n > 0 {
		c.Log().Info("ERRL: pruned old reports", "deleted", n, "kept", s.cfg.MaxStoredReports)
	}
}
