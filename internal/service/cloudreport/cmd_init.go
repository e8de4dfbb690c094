package cloudreport

import (
	"errors"
	"gatehouse/internal/netsvc"
	"strings"
)

func (ss *session) handleInit(r Request) ([]byte, netsvc.Status, bool) {
	s := ss.s
	a, err := ParseInit(r)
	switch {
	case errors.Is(err, ErrInitFormat):
		return errorReply(s.dialect, failInitFormat, ""), netsvc.StatusClientError, false
	case err != nil:
		// The delphi reply names the ID as sent ("501 Invalid client ID: x").
		raw := strings.SplitN(r.Tokens[0], "=", 3)[1]
		return errorReply(s.dialect, failInitID, shortArg(raw)), netsvc.StatusClientError, false
	}
	var key string
	keyLen := KeyLen(a.Index)
	if s.dialect == Delphi {
		if a.Index == 0 {
			return errorReply(s.dialect, failInitID, shortArg(a.Text)), netsvc.StatusClientError, false
		}
		if a.HST == "" {
			return errorReply(s.dialect, failHostEmpty, ""), netsvc.StatusClientError, false
		}
		key = DelphiKey(s.cfg.ServerKey, a.Index, keyLen, a.HST)
	} else {
		key = SeedKey(s.cfg.ServerKey, a.Index, ss.peer)
	}
	if s.cfg.CompatInitDuplicate && !ss.s.claimInit(ss, a.Text) {
		ss.c.Log().Info("INIT rejected: dictionary index in use (compat_init_duplicate)", "id", a.Text)
		return errorReply(s.dialect, failDuplicate, a.Text), netsvc.StatusRefused, true
	}
	var codec Codec
	if s.dialect == Delphi {
		dc, err := NewDelphiCodec(key, s.hash, s.cfg.DelphiZlib, s.cfg.MaxInflate)
		if err != nil {
			return errorReply(s.dialect, failInternal, ""), netsvc.StatusServerError, false
		}
		codec = dc
	} else {
		codec = NewSeedCodec(key, s.cfg.MaxInflate)
	}
	// A re-INIT re-keys the connection and drops what INFO established.
	ss.s.dropClient(ss)
	ss.clientID = ""
	// HST is a substring of the whole request line: keep only its bytes.
	a.HST = strings.Clone(a.HST)
	ss.init, ss.codec, ss.initialized = a, codec, true
	ss.c.EndHandshake()
	// The key itself is never logged (the seed logged it at INFO level).
	ss.c.Log().Debug("INIT", "id", a.Text, "len", keyLen)
	return initReply(s.cfg.ServerKey, keyLen), netsvc.StatusOK, false
}
