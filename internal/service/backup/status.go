package backup

import (
	"errors"
	"os"

	"gatehouse/internal/netsvc"
)

// reqState is one request's state beyond its answer: the blobs it made
// obsolete and, where the answer code alone does not tell, its status in
// gatehouse_requests_total (docs/backup.md, "Metrics").
type reqState struct {
	superseded []string
	status     netsvc.Status
}

// answer ends a request with code and no payload, counted as status.
func (r *reqState) answer(status netsvc.Status, code uint16) (uint16, []byte, error) {
	r.status = status
	return code, nil, nil
}

// fail ends a request without an answer because of a failure of ours (the
// store): the client retries, and the request counts as a server error.
func (r *reqState) fail(err error) (uint16, []byte, error) {
	r.status = netsvc.StatusServerError
	return 0, nil, err
}

// statusOf is the request's status: the one a handler set, else what its
// answer code says. code 0 is a request closed without an answer: an I/O
// error ended it (timeout when a deadline did, else closed).
func (r *reqState) statusOf(code uint16, err error) netsvc.Status {
	if r.status != "" {
		return r.status
	}
	switch code {
	case 0:
		return ioStatus(err)
	case respStreamed:
		if err != nil {
			return ioStatus(err)
		}
		return netsvc.StatusOK
	case RespRegistered, RespAESKey, RespFileCRC, RespAck, RespReconnected, RespList, RespRestore:
		return netsvc.StatusOK
	case RespReconnectDenied:
		// The id is unknown, has no key, or the name does not match: an
		// authentication that failed.
		return netsvc.StatusRefused
	case RespNotFound:
		return netsvc.StatusClientError
	}
	// 2107: the handlers mark refusals and failures of ours; what is left
	// is a request that was malformed or out of order, unless it carries
	// an error of ours.
	if err != nil {
		return netsvc.StatusServerError
	}
	return netsvc.StatusClientError
}

// ioStatus is the status of a request an I/O error ended: a deadline
// (idle, handshake, write, or the minimum rate) is a timeout, anything else
// the peer going away.
func ioStatus(err error) netsvc.Status {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return netsvc.StatusTimeout
	}
	return netsvc.StatusClosed
}
