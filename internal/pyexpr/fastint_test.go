package pyexpr

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

var tightLimits = Limits{MaxExpression: 24, MaxNodes: 5, MaxDepth: 2, MaxBits: 14400, MaxItems: 10, Timeout: DefaultLimits.Timeout}

// checkSmallInt: whenever the int64 path answers, the full evaluator gives
// the same integer; the reply bytes are the same either way.
func checkSmallInt(t *testing.T, src string, lim Limits) bool {
	t.Helper()
	v, ok := evalSmallInt(src, lim)
	full, fullErr := evaluateFull(src, lim)
	if ok {
		bi, isInt := full.(*big.Int)
		if fullErr != nil || !isInt || !bi.IsInt64() || bi.Int64() != v {
			t.Fatalf("%q: fast path %d, full evaluator %v (%T) %v", src, v, full, full, fullErr)
		}
	}
	got, err := Eval(src, lim)
	if got, want := replyOf(got, err), replyOf(full, fullErr); got != want {
		t.Fatalf("%q: reply %s, full path %s", src, got, want)
	}
	return ok
}

func TestSmallIntFastPath(t *testing.T) {
	for _, src := range []string{"(6 + 4) * 8", "1+1", "-7 // 2", "7 % -3", "-7 % 3", "7 // -3", "~5", "5--3", "+5",
		"- ( 1 )", "\t2\t*\t3", "0", "999999999999999999 * 9", "0 * 999999999999999999"} {
		if !checkSmallInt(t, src, DefaultLimits) {
			t.Errorf("fast path refused %q", src)
		}
	}
	// Each of these must be left to the full path (and still answered as
	// the full path answers).
	for _, src := range []string{"10/2", "2**3", "-2**2", "007", "00", "1_000", "0x10", "1e3", "1.5", "1j", "10//0", "10%0",
		"9223372036854775807 + 1", "3037000500 * 3037000500", "-9223372036854775807 - 2", "1 2", "(1,)", "()", "(1", "1)",
		"2(3)", "1if 1 else 2", "1 # c", "1\n", "\f1", "True+1", "1 << 3", "1 & 3", "", " ", "1+", "1234567890123456789",
		"((((1))))", "1+1+1+1+1+1+1+1", strings.Repeat("(", 30) + "1" + strings.Repeat(")", 30)} {
		checkSmallInt(t, src, DefaultLimits)
		checkSmallInt(t, src, tightLimits)
	}
	for _, src := range []string{"((1))", "1+1+1", "(((1)))", "1+2+3+4+5+6"} {
		// Over the tight node/nesting limits: the full path's error.
		if checkSmallInt(t, src, tightLimits) && len(src) > tightLimits.MaxNodes {
			t.Errorf("%q answered by the fast path over the node limit", src)
		}
	}
	if _, ok := evalSmallInt("(((1)))", tightLimits); ok {
		t.Error("fast path ignored MaxDepth")
	}
	// Random expressions over the subset, with operands near the int64
	// edges so that overflow fallbacks are exercised.
	rng := rand.New(rand.NewPCG(8, 8))
	operands := []int64{0, 1, 2, 3, 7, 10, 3037000499, 3037000500, 999999999999999999, math.MaxInt64 / 2}
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth > 3 || rng.IntN(3) == 0 {
			s := fmt.Sprint(operands[rng.IntN(len(operands))])
			if rng.IntN(4) == 0 {
				s = []string{"-", "+", "~", "- "}[rng.IntN(4)] + s
			}
			return s
		}
		op := []string{" + ", " - ", "*", " // ", " % ", "-"}[rng.IntN(6)]
		s := gen(depth+1) + op + gen(depth+1)
		if rng.IntN(2) == 0 {
			s = "(" + s + ")"
		}
		return s
	}
	fast := 0
	for i := 0; i < 3000; i++ {
		if checkSmallInt(t, gen(0), DefaultLimits) {
			fast++
		}
	}
	if fast < 300 {
		t.Errorf("fast path answered only %d of 3000 random subset expressions", fast)
	}
}

// FuzzSmallInt compares the int64 path with the full evaluator.
func FuzzSmallInt(f *testing.F) {
	for _, s := range []string{"(6 + 4) * 8", "-7 // 2", "7 % -3", "~5", "3037000500 * 3037000500", "999999999999999999*-9", "((1))", "1+-+-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		checkSmallInt(t, src, DefaultLimits)
		checkSmallInt(t, src, tightLimits)
	})
}
