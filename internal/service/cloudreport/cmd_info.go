package cloudreport

import (
	"context"
	"errors"
	"log/slog"
	"time"

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
	plain, err := ss.decrypt(data)
	if err != nil {
		return errorReply(s.dialect, failDecrypt, ""), netsvc.StatusRefused, ss.authFailed("decrypt failed")
	}
	// The fields stay offsets into plain (the request's codecBuf): only
	// what is kept becomes a string.
	b := ss.scratch()
	b.fields = parseFieldRefs(plain, b.fields[:0])
	wireID, _ := getField(plain, b.fields, "ID")
	if mtls && (!validClientID(wireID) || store.NormalizeCloudreportID(string(wireID)) != store.NormalizeCloudreportID(certID)) {
		return ss.certRefused(string(wireID))
	}
	if !validClientID(wireID) {
		if open {
			return ss.anonymousGrant("no valid client id")
		}
		return errorReply(s.dialect, failNotFound, ""), netsvc.StatusRefused, ss.authFailed("no valid client id")
	}
	id := ss.normalizedID(wireID)
	// One clock read for the cache's check and the last-seen note.
	now := s.cfg.Now()
	cl, err := ss.s.lookupAt(ctx, id, now)
	switch {
	case errors.Is(err, store.ErrNotFound) && open:
		name, ok := getField(plain, b.fields, "ON")
		if !ok || len(name) == 0 {
			name, _ = getField(plain, b.fields, "FN")
		}
		cl, err = ss.s.registerSeen(ctx, ss, id, name)
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
		ss.s.noteSeen(id, now, ss.peer)
	}
	return ss.grant(wireID, cl, false)
}

// normalizedID is store.NormalizeCloudreportID(wireID), the session's
// registry id itself when it is that id (a client's repeated INFO
// allocates no new string).
func (ss *session) normalizedID(wireID []byte) string {
	if id := ss.clientID; len(id) == len(wireID) {
		same := true
		for i := 0; i < len(id) && same; i++ {
			c := wireID[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			same = c == id[i]
		}
		if same {
			return id
		}
	}
	return store.NormalizeCloudreportID(string(wireID))
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
func (ss *session) grant(wireID []byte, cl store.CloudreportClient, unrecorded bool) ([]byte, netsvc.Status, bool) {
	s := ss.s
	en := byte('1')
	if !cl.Enabled {
		en = '0'
	}
	reply, err := ss.infoReply(wireID, cl.Expires, en, cl.Created.In(s.loc))
	if err != nil {
		return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
	}
	if ss.clientID != cl.ID {
		ss.s.claimClient(ss, cl.ID)
		ss.clientID = cl.ID
		ss.c.SetIdentity(cl.ID)
	}
	if l := ss.c.Log(); l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("INFO", "client", cl.ID, "enabled", cl.Enabled, "unrecorded", unrecorded)
	}
	return reply, netsvc.StatusOK, false
}

// infoReply is the data reply of an INFO grant: the payload
// TT=Test, ID, EX, EN, CD, CT (Fields.Format's layout) built in the
// request's codecBuf without intermediate strings.
func (ss *session) infoReply(id []byte, expires time.Time, en byte, created time.Time) ([]byte, error) {
	b := ss.scratch()
	p := append(b.out[:0], "TT=Test\r\nID="...)
	p = append(p, id...)
	p = append(p, "\r\nEX="...)
	p = appendDate(p, expires)
	p = append(p, "\r\nEN="...)
	p = append(p, en)
	p = append(p, "\r\nCD="...)
	p = appendDate(p, created)
	p = append(p, "\r\nCT="...)
	p = appendClock(p, created)
	b.out = p
	return ss.dataReply(p)
}

// anonymousGrant is the seed's INFO answer for a client that names no
// usable id (open registration only): the INIT number as ID, enabled, one
// year from today. Nothing is recorded.
func (ss *session) anonymousGrant(reason string) ([]byte, netsvc.Status, bool) {
	s := ss.s
	now := s.cfg.Now().In(s.loc)
	reply, err := ss.infoReply([]byte(ss.init.Text), AddYears(now, 1), '1', now)
	if err != nil {
		return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
	}
	ss.c.Log().Info("INFO answered without a client id", "reason", reason, "init", ss.init.Text)
	return reply, netsvc.StatusOK, false
}

var errRateLimited = errors.New("cloudreport: first-seen client rate limited")

// maxSeenName bounds the name taken from a first INFO.
const maxSeenName = 128

// registerSeen records a client id seen for the first time (open
// registration): enabled, expiring one year from today (the seed's grant),
// named name (the payload's ON field, or FN). It returns the registered row;
// on errRateLimited or a store failure it returns the row it would have
// recorded, for the reply.
func (s *Server) registerSeen(ctx context.Context, ss *session, id string, name []byte) (store.CloudreportClient, error) {
	now := s.cfg.Now()
	c := store.CloudreportClient{ID: id, Name: Latin1ToUTF8(truncate(name, maxSeenName)),
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
