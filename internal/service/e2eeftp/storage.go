package e2eeftp

import (
	"io"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// writeFailed answers a SEND the blob store could not take (step: create,
// write or commit): the rest of the body (left bytes) is drained so the
// stock client, which writes it all before reading, sees the answer, then
// "500|Server Write Error". A full disk is logged as such, so an operator
// sees "no space left" rather than a decryption problem. Nothing is
// stored: the temporary blob is aborted by the caller.
func (ss *session) writeFailed(step, name string, err error, left int64) netsvc.Status {
	if store.IsNoSpace(err) {
		ss.log.Error("SEND refused: no space left on the blob store", "step", step, "name", name, "err", err)
	} else {
		ss.log.Error("SEND refused: storing failed", "step", step, "name", name, "err", err)
	}
	if left > 0 {
		if _, err := io.CopyN(io.Discard, ss.r, left); err != nil {
			return ss.peerFailed("e2eeftp: SEND: draining a body that cannot be stored", err)
		}
	}
	return ss.answer(StatusServerWriteError, netsvc.StatusServerError)
}
