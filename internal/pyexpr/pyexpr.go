// Package pyexpr is a bounded interpreter for the Python expression
// language the zmqcmd service's "compute" requests carry: CPython 3.11's
// eval() of one expression over numbers, strings, tuples, lists, dicts
// and a few builtins, answering the same values and the same error texts,
// without ever running Python (docs/zmqcmd.md, "Compatibility").
//
// The language lives here; the service (frames, requests, computation
// slots, logging) lives in internal/service/zmqcmd. The API is small:
//
//	v, err := pyexpr.Eval(src, pyexpr.DefaultLimits) // parse, estimate, evaluate
//	out, err := pyexpr.AppendJSON(dst, v)             // json.dumps(v)
//
// Prepare and Expr.Eval split Eval in two, so that a caller can refuse
// syntax errors and hopeless expressions (the cost estimate) before it
// queues for a CPU slot; EvalSmallInt is the allocation-free path for small
// integer arithmetic such as (6 + 4) * 8. Every error an evaluation returns
// is an *Error whose text is the message CPython would have given (or the
// service's refusal), and whose Kind classifies it for logs and metrics.
//
// Every evaluation is bounded by Limits: source length, tree size,
// nesting, integer size, container size, wall-clock time and a CPU budget
// in cost units charged before each operation (cost.go, estimate.go).
// Float powers are glibc's pow ported bit for bit (pow.go), so results
// match the original's CPython on both glibc builds.
package pyexpr

import (
	"math/big"
	"time"
)

// Value is a Python value an evaluation produces: None, bool, *big.Int
// (never mutated once made), float64, string, or a tuple, list or dict of
// values. Render it with AppendJSON.
type Value = any

// Limits bound one evaluation; every one is checked before the work it
// guards.
type Limits struct {
	MaxExpression int           // bytes of source
	MaxNodes      int           // nodes of the parsed tree
	MaxDepth      int           // bracket nesting (CPython: 200)
	MaxBits       int           // bits of any intermediate integer
	MaxItems      int           // elements of any list/tuple built
	Timeout       time.Duration // wall-clock budget, checked between steps
	// Now is the clock the Timeout is checked against (nil: time.Now).
	Now func() time.Time
	// Budget is the CPU budget of one evaluation in cost units (cost.go),
	// charged before each operation and estimated before evaluating; 0
	// turns it off (tests only: the service requires it).
	Budget int64
}

// DefaultLimits are the service defaults.
var DefaultLimits = Limits{
	MaxExpression: 1024,
	MaxNodes:      1000,
	MaxDepth:      200,
	MaxBits:       1 << 17, // ≈ 39,000 digits: far above the 4,300-digit result limit, cheap to multiply
	MaxItems:      10000,
	Timeout:       time.Second,
	Budget:        DefaultBudget,
}

// Eval parses and evaluates an expression and returns its value, or an
// *Error whose text is the reply message.
func Eval(src string, lim Limits) (Value, error) {
	if v, ok := evalSmallInt(src, lim); ok {
		return big.NewInt(v), nil
	}
	return evaluateFull(src, lim)
}

// EvalSmallInt answers src when it is small-integer arithmetic (decimal
// literals, + - * // % ~ and brackets, every intermediate in int64, at most
// 64 bytes) without allocating; ok is false otherwise, and the caller uses
// Eval. Whenever ok, Eval would return the same integer.
func EvalSmallInt(src string, lim Limits) (v int64, ok bool) {
	return evalSmallInt(src, lim)
}

// Expr is a parsed expression that passed the cost estimate.
type Expr struct {
	n   *node
	lim Limits
}

// Prepare parses src and refuses hopeless expressions before any work
// (the cost estimate, estimate.go). Both are cheap and bounded by the
// expression's length, so a server runs them before waiting for a
// computation slot.
func Prepare(src string, lim Limits) (*Expr, error) {
	n, err := prepare(src, lim)
	if err != nil {
		return nil, err
	}
	return &Expr{n: n, lim: lim}, nil
}

// Eval evaluates the prepared expression within the limits it was
// prepared with.
func (x *Expr) Eval() (Value, error) { return evaluateTree(x.n, x.lim) }

// evaluateFull is Eval without the small-integer fast path.
func evaluateFull(src string, lim Limits) (any, error) {
	n, err := prepare(src, lim)
	if err != nil {
		return nil, err
	}
	return evaluateTree(n, lim)
}

func prepare(src string, lim Limits) (*node, error) {
	n, err := parse(src, lim)
	if err != nil {
		return nil, err
	}
	if lim.Budget > 0 && estimateCost(n, lim) > lim.Budget {
		return nil, errBudgetEstimate
	}
	return n, nil
}

// evaluateTree evaluates a prepared expression within lim.
func evaluateTree(n *node, lim Limits) (any, error) {
	e := &evaluator{lim: lim, now: lim.Now}
	if e.now == nil {
		e.now = time.Now
	}
	if lim.Timeout > 0 {
		e.deadline = e.now().Add(lim.Timeout)
	}
	v, err := e.eval(n)
	if err != nil {
		return nil, err
	}
	if err := checkResult(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// NewError returns an *Error with message msg and kind (for a caller's own
// refusals, such as a server out of computation slots).
func NewError(msg, kind string) *Error { return &Error{msg: msg, kind: kind} }

// Message is the reply text for an evaluation error: an *Error's own text,
// "Internal error" for anything else.
func Message(err error) string {
	if e, ok := err.(*Error); ok {
		return e.msg
	}
	return "Internal error"
}

// Kind classifies err for logs and metrics: for an *Error "syntax", "name",
// "runtime", "limit", "timeout", "budget" (over the CPU budget while
// evaluating), "estimate" (refused by the estimate before evaluating) or a
// caller's own kind (NewError); "runtime" for anything else.
func Kind(err error) string {
	if e, ok := err.(*Error); ok {
		return e.kind
	}
	return "runtime"
}

// AppendJSON appends v as Python's json.dumps (default separators,
// ensure_ascii, allow_nan) would encode it; the error is the TypeError or
// ValueError json.dumps would raise (an *Error).
func AppendJSON(dst []byte, v Value) ([]byte, error) { return appendJSONValue(dst, v) }

// AppendJSONString appends s as a JSON string the way json.dumps encodes
// it (ASCII only, \uXXXX escapes).
func AppendJSONString(dst []byte, s string) []byte { return appendJSONString(dst, s) }
