package zmqcmd

import (
	"bytes"
	"encoding/json"
	"testing"

	"gatehouse/internal/pyexpr"
)

// fullPathReply is the reply computeExpr would give without its
// small-integer fast path.
func fullPathReply(src string, lim Limits) []byte {
	x, err := pyexpr.Prepare(src, lim)
	if err != nil {
		r, _, _ := appendComputeReply(nil, nil, err)
		return r
	}
	v, err := x.Eval()
	r, _, _ := appendComputeReply(nil, v, err)
	return r
}

// TestComputeFastPathSameReply: the reply bytes (and the logged result)
// are the same whether the small-integer fast path or the interpreter
// answers; the interpreter's own tests (internal/pyexpr) check the values.
func TestComputeFastPathSameReply(t *testing.T) {
	t.Parallel()
	tight := Limits{MaxExpression: 24, MaxNodes: 5, MaxDepth: 2, MaxBits: 14400, MaxItems: 10, Timeout: DefaultLimits.Timeout}
	fast := 0
	for _, src := range []string{"(6 + 4) * 8", "1+1", "-7 // 2", "7 % -3", "~5", "5--3", "+5", "0",
		"999999999999999999 * 9", "9223372036854775807 + 1", "3037000500 * 3037000500", "10//0", "2**3", "1.5",
		"1 2", "", "((1))", "1+2+3+4+5+6", "'a' * 3", "[1, 2.5, 'x']"} {
		for _, lim := range []Limits{DefaultLimits, tight} {
			if _, ok := pyexpr.EvalSmallInt(src, lim); ok {
				fast++
			}
			got, result, _ := computeExpr(nil, src, lim)
			if want := fullPathReply(src, lim); !bytes.Equal(got, want) {
				t.Errorf("%q: reply %s, full path %s", src, got, want)
			}
			if result != nil && !bytes.Equal(AppendSuccess(nil, result), got) {
				t.Errorf("%q: result %s is not the reply's %s", src, result, got)
			}
		}
	}
	if fast < 10 {
		t.Errorf("fast path answered only %d", fast)
	}
}

// TestComputeNonStringExpression: an expression that is not a JSON string
// gets the TypeError CPython's eval() raised for it.
func TestComputeNonStringExpression(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`5`, `null`, `["1+1"]`, `{"a": "b"}`} {
		got, _, err := computeReply(nil, json.RawMessage(raw), DefaultLimits)
		if want := AppendError(nil, msgEvalArg); !bytes.Equal(got, want) || err == nil {
			t.Errorf("%s: %s (%v), want %s", raw, got, err, want)
		}
	}
	got, _, err := computeReply(nil, json.RawMessage(`"(6 + 4) * 8"`), DefaultLimits)
	if string(got) != `{"status": "success", "result": 80}` || err != nil {
		t.Errorf("string expression: %s (%v)", got, err)
	}
}
