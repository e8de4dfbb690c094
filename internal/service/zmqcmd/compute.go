package zmqcmd

// Compute glue: a "compute" request's expression goes to the Python
// expression interpreter (internal/pyexpr) and its value or error comes
// back as the reply line. The language lives in pyexpr; this file only
// bounds, schedules and frames it.

import (
	"context"
	"encoding/json"
	"strconv"

	"gatehouse/internal/pyexpr"
)

// Limits bound one evaluation (pyexpr.Limits; Config.computeLimits).
type Limits = pyexpr.Limits

// DefaultLimits are the compute limits by default.
var DefaultLimits = pyexpr.DefaultLimits

// computeReply evaluates a compute request's expression field. result is
// the encoded value inside reply (for the log line).
func computeReply(dst []byte, raw json.RawMessage, lim Limits) (reply, result []byte, err error) {
	expr, ok := jsonString(raw)
	if !ok {
		return AppendError(dst, msgEvalArg), nil, pyexpr.NewError(msgEvalArg, "runtime")
	}
	return computeExpr(dst, expr, lim)
}

const replySuccessPrefix = `{"status": "success", "result": `

// computeFast answers expr when the small-integer fast path can; ok is
// false otherwise, with nothing appended.
func computeFast(dst []byte, expr string, lim Limits) (reply, result []byte, ok bool) {
	v, ok := pyexpr.EvalSmallInt(expr, lim)
	if !ok {
		return dst, nil, false
	}
	// The same bytes big.Int.Append writes for the full path's value.
	dst = append(dst, replySuccessPrefix...)
	at := len(dst)
	dst = strconv.AppendInt(dst, v, 10)
	end := len(dst)
	dst = append(dst, '}')
	return dst, dst[at:end], true
}

// computeExpr evaluates expr and appends the reply to dst; result is the
// encoded value inside reply.
func computeExpr(dst []byte, expr string, lim Limits) (reply, result []byte, err error) {
	if r, res, ok := computeFast(dst, expr, lim); ok {
		return r, res, nil
	}
	v, err := pyexpr.Eval(expr, lim)
	return appendComputeReply(dst, v, err)
}

// appendComputeReply appends the reply for an evaluation's value or error.
func appendComputeReply(dst []byte, v pyexpr.Value, err error) (reply, result []byte, _ error) {
	if err != nil {
		return AppendError(dst, pyexpr.Message(err)), nil, err
	}
	out := append(dst, replySuccessPrefix...)
	at := len(out)
	out, err = pyexpr.AppendJSON(out, v)
	if err != nil {
		return AppendError(dst, pyexpr.Message(err)), nil, err
	}
	end := len(out)
	out = append(out, '}')
	return out, out[at:end], nil
}

// computeString answers a compute request whose expression is a string:
// the small-integer fast path at once; otherwise parsing and the cost
// estimate (cheap, bounded by the expression's length) answer syntax
// errors and hopeless expressions without waiting, and only the
// evaluation itself takes a computation slot (budget.go).
func (s *Server) computeString(ctx context.Context, buf []byte, expr string) (reply, result []byte, err error) {
	if r, res, ok := computeFast(buf, expr, s.lim); ok {
		return r, res, nil
	}
	x, err := pyexpr.Prepare(expr, s.lim)
	if err != nil {
		return appendComputeReply(buf, nil, err)
	}
	release, err := s.acquireCompute(ctx)
	if err != nil {
		return appendComputeReply(buf, nil, err)
	}
	defer release()
	v, err := x.Eval()
	return appendComputeReply(buf, v, err)
}
