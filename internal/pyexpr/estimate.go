package pyexpr

import (
	"math"
	"math/big"
)

// The cost estimate: before evaluating, a walk over the parsed expression
// adds up what the evaluator will certainly charge (cost.go) for the
// integer operations whose operand sizes are known from the text:
// literals, and sizes that follow from them (2**4096 - 1 has at least
// 4,096 bits). An expression whose estimate is over the budget, such as
// thirty 4,096-bit pow(a, b, m) in one request, is refused before any of
// it runs. Sizes are lower bounds and only operands that are always
// evaluated count (the condition of x if c else y, the left side of
// and/or), so the estimate never exceeds what the evaluation would charge
// unless the evaluation would end early with an error (1/0 + …); from a
// node that the evaluator refuses for its size (9**9**9) on, nothing more
// is counted, so that refusal keeps its own message.

// errBudgetEstimate is errBudget found by the estimate (logged and counted
// as such).
var errBudgetEstimate = &Error{errBudget.msg, "estimate"}

// estimateCost returns a lower bound of the cost units evaluating n
// charges (see above for the one exception).
func estimateCost(n *node, lim Limits) int64 {
	s := &estimator{lim: lim}
	s.walk(n)
	return s.cost
}

type estimator struct {
	lim     Limits
	cost    int64
	stopped bool // the evaluation ends with a size error at this point
	depth   int
}

// est is what is known of a value: whether it is certainly an integer, a
// lower bound of its bit length, and its exact value when small.
type est struct {
	isInt bool
	bits  int64
	val   int64
	known bool // val is exact
}

func (s *estimator) add(c int64) {
	if !s.stopped {
		s.cost += c
	}
}

func (s *estimator) stop() est { s.stopped = true; return est{} }

func (s *estimator) walk(n *node) est {
	if s.stopped || s.depth > 4*s.lim.MaxDepth+100 {
		return est{}
	}
	s.depth++
	defer func() { s.depth-- }()
	switch n.kind {
	case nLit:
		switch v := n.lit.(type) {
		case *big.Int:
			e := est{isInt: true, bits: int64(v.BitLen())}
			if v.IsInt64() {
				e.val, e.known = v.Int64(), true
			}
			return e
		case bool:
			if v {
				return est{isInt: true, bits: 1, val: 1, known: true}
			}
			return est{isInt: true, known: true}
		}
		return est{}
	case nUnary:
		a := s.walk(n.args[0])
		switch n.op {
		case "-":
			if a.val == math.MinInt64 {
				a.known = false
			}
			a.val = -a.val
			return a
		case "+":
			return a
		}
		return est{isInt: a.isInt, bits: max(a.bits-1, 0)}
	case nBin:
		a := s.walk(n.args[0])
		b := s.walk(n.args[1])
		return s.binary(n.op, a, b)
	case nCall:
		var args []est
		for _, a := range n.args[1:] {
			args = append(args, s.walk(a))
		}
		if n.args[0].kind != nName || n.kw || hasKeyword(n.kwn) {
			return est{}
		}
		switch n.args[0].op {
		case "pow":
			switch len(args) {
			case 2:
				return s.binary("**", args[0], args[1])
			case 3:
				b, m := args[1], args[2]
				if args[0].isInt && b.isInt && m.isInt {
					if b.bits > 4096 || m.bits > 4096 {
						return s.stop()
					}
					s.add(costPowMod(b.bits, m.bits))
				}
			}
		case "abs":
			if len(args) == 1 && args[0].isInt {
				return est{isInt: true, bits: args[0].bits}
			}
		}
		return est{}
	case nAnd, nOr, nIf, nNot:
		// Only the first operand (the condition) is always evaluated.
		s.walk(n.args[0])
		return est{}
	case nCmp:
		// A chain stops at its first false comparison.
		s.walk(n.args[0])
		s.walk(n.args[1])
		return est{}
	}
	for _, a := range n.args {
		s.walk(a)
	}
	return est{}
}

func hasKeyword(kwn []string) bool {
	for _, k := range kwn {
		if k != "" {
			return true
		}
	}
	return false
}

// binary estimates a op b from what is known of a and b.
func (s *estimator) binary(op string, a, b est) est {
	if !a.isInt || !b.isInt {
		return est{}
	}
	wa, wb := words(a.bits), words(b.bits)
	maxBits := int64(s.lim.MaxBits)
	switch op {
	case "+", "-":
		s.add(costAdd(wa, wb))
		r := est{isInt: true}
		switch {
		case a.bits > b.bits+1:
			r.bits = a.bits - 1
		case b.bits > a.bits+1:
			r.bits = b.bits - 1
		}
		if a.known && b.known {
			v := a.val + b.val
			if op == "-" {
				v = a.val - b.val
			}
			if v > -(1<<62) && v < 1<<62 && a.val > -(1<<61) && a.val < 1<<61 && b.val > -(1<<61) && b.val < 1<<61 {
				r.val, r.known = v, true
			}
		}
		return r
	case "*":
		if a.bits+b.bits > maxBits+1 {
			return s.stop()
		}
		s.add(costMul(wa, wb))
		if a.bits > 0 && b.bits > 0 {
			return est{isInt: true, bits: a.bits + b.bits - 1}
		}
		return est{isInt: true}
	case "//":
		s.add(costMul(wa, wb))
		return est{isInt: true, bits: max(a.bits-b.bits, 0)}
	case "%":
		s.add(costMul(wa, wb))
		return est{isInt: true}
	case "/":
		s.add(costMul(wa, wb))
		return est{}
	case "**":
		if !b.known || b.val < 0 || a.bits < 2 {
			return est{}
		}
		if b.val > maxBits || (a.bits-1)*b.val > maxBits {
			return s.stop()
		}
		s.add(costPow(powBits(a.bits, b.val)))
		return est{isInt: true, bits: (a.bits-1)*b.val + 1}
	case "<<":
		if !b.known || b.val < 0 || a.bits == 0 {
			return est{isInt: true}
		}
		if a.bits+b.val > maxBits {
			return s.stop()
		}
		s.add(words(a.bits + b.val))
		return est{isInt: true, bits: a.bits + b.val}
	case ">>":
		if b.known && b.val >= 0 {
			return est{isInt: true, bits: max(a.bits-b.val, 0)}
		}
	}
	return est{isInt: true}
}
