package pyexpr

import (
	"strings"
	"testing"
)

// modPow4096 is one 4,096-bit modular power: 33.5 M cost units, the
// costliest single operation the evaluator allows.
const modPow4096 = "pow(3, 2**4096-1, 2**4096-3)"

// worstExpressions are the expressions a hostile client would loop; each
// must be refused (the test asserts the refusal, never a duration).
var worstExpressions = []struct {
	name, expr string
	err        *Error
}{
	// issue 14: a ~900-byte expression of modular powers (1.2 s of CPU
	// before); the estimate sees the sizes and refuses before running any.
	{"repeated pow estimate", strings.TrimSuffix(strings.Repeat(modPow4096+"+", 30), "+"), errBudgetEstimate},
	// The same with the exponent hidden from the estimate in a string:
	// refused while running, before the fourth power.
	{"repeated pow runtime", strings.TrimSuffix(strings.Repeat("pow(3, int('9'*1233), 2**4096-3)+", 10), "+"), errBudget},
	{"repeated big products", strings.TrimSuffix(strings.Repeat("(2**65000)*(2**65000)+", 40), "+"), errBudgetEstimate},
	{"round of huge ints", strings.TrimSuffix(strings.Repeat("round(int('1'*65000,2)**2,-5)+", 10), "+"), errBudget},
	{"tower", "9**9**9**9", errDigits},
	{"huge shift", "1<<10**9", errDigits},
	{"huge product", "(2**131000)*(2**131000)", errDigits},
}

func TestWorstExpressionsAreRefused(t *testing.T) {
	for _, w := range worstExpressions {
		if len(w.expr) > DefaultLimits.MaxExpression {
			t.Fatalf("%s: %d bytes, over max_expression", w.name, len(w.expr))
		}
		n, err := parse(w.expr, DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		e := &evaluator{lim: DefaultLimits}
		var got error
		if estimateCost(n, DefaultLimits) > DefaultLimits.Budget {
			got = errBudgetEstimate
		} else {
			_, got = e.eval(n)
		}
		if got != error(w.err) {
			t.Errorf("%s: got %v, want %v", w.name, got, w.err)
		}
		if w.err == errBudget && e.cost-e.lastCharge > DefaultLimits.Budget {
			t.Errorf("%s: ran %d units before the refusal, over the budget %d", w.name, e.cost-e.lastCharge, DefaultLimits.Budget)
		}
		// And the same through Eval, as the server calls it.
		if _, err := Eval(w.expr, DefaultLimits); err == nil || err.Error() != w.err.Error() {
			t.Errorf("%s: Eval: %v", w.name, err)
		}
	}
}

// TestLegitimateExpensiveFitsBudget: the costliest legitimate forms stay
// well inside the default budget.
func TestLegitimateExpensiveFitsBudget(t *testing.T) {
	for _, expr := range []string{
		modPow4096, modPow4096 + " + " + modPow4096, // an RSA-4096 round trip
		"len(str(10**4299))", "10**4299 // 7**5000", "int('7'*4300) % 97", "round(2**14000, -100) > 0",
		"1000*(1+0.05/365)**(365*30)",
	} {
		if _, err := Eval(expr, DefaultLimits); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

// TestEstimateNeverExceedsCharge: over every vector and probe and 2,000
// generated expressions, the estimate is at most what the evaluation
// charges, so it can only refuse what the evaluator would refuse anyway.
func TestEstimateNeverExceedsCharge(t *testing.T) {
	var exprs []string
	for _, v := range loadComputeVectors(t) {
		exprs = append(exprs, v.Expr)
	}
	for _, v := range loadReplyVectors(t, "testdata/compat_probes.jsonl") {
		exprs = append(exprs, v.Expr)
	}
	g := newExprGen(diffFixedSeed)
	for i := 0; i < 2000; i++ {
		exprs = append(exprs, g.top())
	}
	exprs = append(exprs, modPow4096, modPow4096+" + "+modPow4096, "10**4299 // 7**5000")
	lim := DefaultLimits
	lim.Budget = 0 // measure, do not refuse
	checked := 0
	for _, src := range exprs {
		n, err := parse(src, lim)
		if err != nil {
			continue
		}
		est := estimateCost(n, lim)
		e := &evaluator{lim: lim}
		if _, err := e.eval(n); err != nil {
			continue // an early error may stop before what the estimate counted
		}
		checked++
		if est > e.cost {
			t.Errorf("%q: estimate %d > charged %d", src, est, e.cost)
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d expressions evaluated", checked)
	}
	// The estimate does see the sizes that matter.
	n, _ := parse(modPow4096+" + "+modPow4096, lim)
	if est := estimateCost(n, lim); est < 2*costPowMod(4096, 4096) {
		t.Fatalf("estimate of two 4,096-bit powers: %d", est)
	}
}
