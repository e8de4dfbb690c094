package cloudreport

import (
	"context"
	"errors"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

func (ss *session) handleInfo(ctx context.Context, r Request) ([]byte, netsvc.Status, bool) {
	s := ss.s
	open := s.registration == Open
	certID, mtls := netsvc.PeerIdentity(ss.c)
	data, ok := r.Param("DATA")
	if !ok && mtls {
		return ss.certRefused("")
	}
	if !ok {
		if open {
			// The seed answered INFO without DATA; so does open registration,
			// with nothing to record.
			return ss.anonymousGrant("info without data")
		}
		return errorReply(s.dialect, failMissingData, ""), netsvc.StatusRefused, ss.authFailed("info without data")
	}
	plain, err := ss.codec.Decrypt(data)
	if err != nil {
		return errorReply(s.dialect, failDecrypt, ""), netsvc.StatusRefused, ss.authFailed("decrypt failed")
	}
	fields := ParseFields(plain)
	wireID, _ := fields.Get("ID")
	if mtls && (!ValidClientID(wireID) || store.NormalizeCloudreportID(wireID) != store.NormalizeCloudreportID(certID)) {
		return ss.certRefused(wireID)
	}
	if !ValidClientID(wireID) {
		if open {
			return ss.anonymousGrant("no valid client id")
		}
		return errorReply(s.dialect, failNotFound, ""), netsvc.StatusRefused, ss.authFailed("no valid client id")
	}
	id := store.NormalizeCloudreportID(wireID)
	cl, err := ss.s.lookup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) && open:
		cl, err = ss.s.registerSeen(ctx, ss, id, fields)
		if err != nil {
			// Not recorded now (rate limit, store failure): answered as
			// the seed would and recorded on a later INFO. A store failure
			// is a server_error even so; the rate limit has its own series.
			reply, status, closeAfter := ss.grant(wireID, cl, true)
			if status == netsvc.StatusOK && !errors.Is(err, errRateLimited) {
				status = netsvc.StatusServerError
			}
			return reply, status, closeAfter
		}
	case errors.Is(err, store.ErrNotFound) || (err == nil && !cl.Enabled && !open):
		// Unknown and disabled look the same on the wire; the log tells.
		ss.c.Log().Info("INFO refused", "client", id, "known", err == nil)
		return errorReply(s.dialect, failNotFound, ""), netsvc.StatusRefused, ss.authFailed("unknown or disabled client")
	case err != nil:
		ss.c.Log().Error("INFO registry lookup failed", "client", id, "err", err)
		return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
	default:
		ss.s.noteSeen(id, s.cfg.Now(), ss.peer)
	}
	return ss.grant(wireID, cl, false)
}

// certRefused answers an INFO on a mutual-TLS connection that does not
// name the client of the verified certificate (its common name is the
// client id) the way an unknown client is answered.
func (ss *session) certRefused(wireID string) ([]byte, netsvc.Status, bool) {
	cn, _ := netsvc.PeerIdentity(ss.c)
	ss.c.Log().Info("INFO refused: client id is not the one of the TLS client certificate", "client", wireID, "certificate_cn", cn)
	return errorReply(ss.s.dialect, failNotFound, ""), netsvc.StatusRefused, ss.authFailed("client id differs from the TLS client certificate")
}

// grant answers INFO for client cl. The reply's ID is the id as the
// client spelled it; EN is 0 for a disabled client (open registration) and
// EX its real expiry, expired or not: the client decides.
func (ss *session) grant(wireID string, cl store.CloudreportClient, unrecorded bool) ([]byte, netsvc.Status, bool) {
	s := ss.s
	en := "1"
	if !cl.Enabled {
		en = "0"
	}
	created := cl.Created.In(s.loc)
	payload := Fields{
		{"TT", "Test"},
		{"ID", wireID},
		{"EX", cl.Expires.Format("2006-01-02")},
		{"EN", en},
		{"CD", created.Format("2006-01-02")},
		{"CT", created.Format("15:04:05")},
	}
	out, err := ss.codec.Encrypt(payload.Format())
	if err != nil {
		return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
	}
	ss.s.claimClient(ss, cl.ID)
	ss.clientID = cl.ID
	ss.c.SetIdentity(cl.ID)
	ss.c.Log().Debug("INFO", "client", cl.ID, "enabled", cl.Enabled, "unrecorded", unrecorded)
	return dataReply(s.dialect, out), netsvc.StatusOK, false
}

// anonymousGrant is the seed's INFO answer for a client that names no
// usable id (open registration only): the INIT number as ID, enabled, one
// year from today. Nothing is recorded.
func (ss *session) anonymousGrant(reason string) ([]byte, netsvc.Status, bool) {
	s := ss.s
	now := s.cfg.Now().In(s.loc)
	payload := Fields{
		{"TT", "Test"},
		{"ID", ss.init.Text},
		{"EX", AddYears(now, 1).Format("2006-01-02")},
		{"EN", "1"},
		{"CD", now.Format("2006-01-02")},
		{"CT", now.Format("15:04:05")},
	}
	out, err := ss.codec.Encrypt(payload.Format())
	if err != nil {
		return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
	}
	ss.c.Log().Info("INFO answered without a client id", "reason", reason, "init", ss.init.Text)
	return dataReply(s.dialect, out), netsvc.StatusOK, false
}

var errRateLimited = errors.New("cloudreport: first-seen client rate limited")

// maxSeenName bounds the name taken from a first INFO.
const maxSeenName = 128

// registerSeen records a client id seen for the first time (open
// registration): enabled, expiring one year from today (the seed's grant),
// named after the payload's ON or FN field. It returns the registered row;
// on errRateLimited or a store failure it returns the row it would have
// recorded, for the reply.
func (s *Server) registerSeen(ctx context.Context, ss *session, id string, f Fields) (store.CloudreportClient, error) {
	now := s.cfg.Now()
	name, ok := f.Get("ON")
	if !ok || name == "" {
		name, _ = f.Get("FN")
	}
	c := store.CloudreportClient{ID: id, Name: Latin1ToUTF8(truncate([]byte(name), maxSeenName)),
		Expires: AddYears(now.In(s.loc), 1), Enabled: true, Created: now,
		FirstSeen: now, LastSeen: now, LastAddr: ss.peer}
	if !s.limiter.Allow(ss.peer) {
		s.m.rateLimited.Inc()
		ss.c.Log().Info("new client not recorded: per-address first-seen limit", "client", id)
		return c, errRateLimited
	}
	epoch := s.cache.begin()
	got, created, err := s.reg.CloudreportRegisterSeen(ctx, c)
	if err != nil {
		ss.c.Log().Error("new client not recorded: store write failed", "client", id, "err", err)
		return c, err
	}
	s.cache.fill(epoch, id, got, nil)
	if created {
		s.m.registered.Inc()
		ss.c.Log().Info("new client recorded (open registration)", "client", id)
	} else {
		s.noteSeen(id, now, ss.peer) // another connection recorded it first
	}
	return got, nil
}
