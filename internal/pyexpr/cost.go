package pyexpr

import "math/big"

// The CPU budget of one evaluation (docs/zmqcmd.md, "Compute budget").
// Work is counted in cost units of about one 64×64-bit multiply-add in
// math/big: about 2 ns on the reference machine (2 vCPU AMD EPYC; a
// 4,096-bit modular pow is 34.6 M units and took 68 ms). Every operation whose time
// grows with its operands is charged before it runs, from the operand
// sizes, so one request can never run far past its budget: the largest
// single charge (a 131,072-bit product, 4.2 M units) is far below it.

// errBudget is the reply to an evaluation that would exceed Limits.Budget,
// found while evaluating or up front by the estimate (estimate.go).
var errBudget = &Error{"Computation exceeds the server's CPU budget", "budget"}

// DefaultBudget is Limits.Budget by default: 100 M units, about 0.2 s of
// one core here. Ordinary expressions are orders of magnitude below it
// (10**4299: 41 k units; str() of a 4,300-digit result: 100 k); the
// costliest single legitimate operation, a 4,096-bit pow(a, b, m), is
// 34.6 M (68 ms), so an RSA-4096 round trip (two of them) still fits.
const DefaultBudget = 100_000_000

// words is the number of 64-bit words of a bits-long integer.
func words(bits int64) int64 { return bits/64 + 1 }

func wordsOf(i *big.Int) int64 { return words(int64(i.BitLen())) }

// Cost formulas (upper bounds of schoolbook work; math/big's Karatsuba
// is faster on large operands, so big products are overcharged), shared by the evaluator (exact sizes) and the estimate
// (lower bounds of the sizes), so that an estimate never exceeds what the
// evaluation would charge.
func costAdd(wa, wb int64) int64 { return wa + wb }
func costMul(wa, wb int64) int64 { return wa * wb }

// costPow is a**b by squaring to a result of resultBits.
func costPow(resultBits int64) int64 { w := words(resultBits); return w * w }

// powBits is the size a**b is charged for: (bits(a)-1)·b + 1, a lower
// bound of the result's bit length (exact for powers of two).
func powBits(aBits, b int64) int64 { return (aBits-1)*b + 1 }

// costPowMod is pow(a, b, m): about two modular products of m's size per
// bit of the exponent.
func costPowMod(expBits, modBits int64) int64 { w := words(modBits); return 2 * expBits * w * w }

// costDecimal is converting between an integer and its decimal text.
func costDecimal(w int64) int64 { return 2 * w * w }

// charge adds units to the evaluation's cost and fails once the budget is
// spent; it also runs the wall-clock check.
func (e *evaluator) charge(units int64) error {
	e.cost += units
	e.lastCharge = units
	if e.lim.Budget > 0 && e.cost > e.lim.Budget {
		return errBudget
	}
	return e.step(0)
}

// chargeText charges converting v to text when it is an integer (str(),
// and int(str) below).
func (e *evaluator) chargeText(v any) error {
	if i, ok := v.(*big.Int); ok {
		return e.charge(costDecimal(wordsOf(i)))
	}
	return nil
}
