package netsvc

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// Status is the value of gatehouse_requests_total's status label: one of
// the six constants below (the type keeps a service from passing its
// protocol's own code by mistake).
type Status string

// The values of gatehouse_requests_total's status label: one small
// vocabulary for every service, so one alert rule or dashboard reads all of
// them. A service maps its protocol's own answer codes onto these (its
// docs/<service>.md says how) and may log the code itself.
const (
	// StatusOK: the request was served as asked.
	StatusOK Status = "ok"
	// StatusClientError: the request was malformed, named something that
	// does not exist or was out of order (a bad name, a missing file, an
	// unknown command).
	StatusClientError Status = "client_error"
	// StatusServerError: the server could not serve a valid request (store,
	// blob store or disk failure, an internal error).
	StatusServerError Status = "server_error"
	// StatusRefused: a policy said no (authentication or authorisation
	// failed, a key is unknown or revoked, a rate or size limit, a command
	// not on an allowlist).
	StatusRefused Status = "refused"
	// StatusTimeout: a deadline passed while the request was served.
	StatusTimeout Status = "timeout"
	// StatusClosed: the peer went away, or the connection broke, before the
	// request was done.
	StatusClosed Status = "closed"
)

// Statuses are all values of the status label, in a stable order; every
// command a service declares has a series at zero for each of them from
// start-up.
var Statuses = []Status{StatusOK, StatusClientError, StatusServerError, StatusRefused, StatusTimeout, StatusClosed}

// PeerGone reports whether err means the client went away (closed or reset
// the connection, or the connection was closed under the handler): a
// request that ends with it has status StatusClosed.
func PeerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}
