package backup

import (
	"io"
	"log/slog"

	"gatehouse/internal/store"
)

// logStoreFailure logs a failed write to the store or blob store, saying
// "no space left" when a full disk is the cause, so an operator sees why
// uploads fail.
func logStoreFailure(log *slog.Logger, what string, err error) {
	if store.IsNoSpace(err) {
		log.Error(what+": no space left", "err", err)
		return
	}
	log.Error(what, "err", err)
}

// blobWriteFailed answers a 1028 whose blob could not be written (disk
// full, I/O error): the rest of the payload (avail bytes after the file
// header, of which body has read body.n) is drained, still under the
// minimum rate, and the answer is 2107, which this service's docs promise
// for anything not stored; the client retries and then sends 1031. The
// original closed without an answer here.
func (s *Server) blobWriteFailed(log *slog.Logger, body *countingReader, avail int64, err error) (uint16, []byte, error) {
	logStoreFailure(log, "file: blob write", err)
	if left := avail - body.n; left > 0 {
		if _, err := io.CopyN(io.Discard, body, left); err != nil {
			return 0, nil, err
		}
	}
	return RespError, nil, nil
}
