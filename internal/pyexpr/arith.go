package pyexpr

// Arithmetic: unary and binary operators on ints and floats, with
// CPython's rules and messages.

import (
	"math"
	"math/big"
)

func unary(op string, v any) (any, error) {
	switch op {
	case "+", "-":
		if f, ok := v.(float64); ok {
			if op == "-" {
				return -f, nil
			}
			return f, nil
		}
		if i, ok := asInt(v); ok {
			if op == "-" {
				return new(big.Int).Neg(i), nil
			}
			return i, nil
		}
	case "~":
		if i, ok := asInt(v); ok {
			return new(big.Int).Not(i), nil
		}
	}
	return nil, pyErrf("bad operand type for unary %s: '%s'", op, typeName(v))
}

func unsupported(op string, a, b any) error {
	if op == "**" {
		op = "** or pow()"
	}
	return pyErrf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(a), typeName(b))
}

func (e *evaluator) binop(op string, a, b any) (any, error) {
	if isNumber(a) && isNumber(b) {
		ai, aInt := asInt(a)
		bi, bInt := asInt(b)
		switch op {
		case "&", "|", "^":
			if !aInt || !bInt {
				return nil, unsupported(op, a, b)
			}
			ab, aBool := a.(bool)
			bb, bBool := b.(bool)
			if aBool && bBool {
				switch op {
				case "&":
					return ab && bb, nil
				case "|":
					return ab || bb, nil
				}
				return ab != bb, nil
			}
			r := new(big.Int)
			switch op {
			case "&":
				r.And(ai, bi)
			case "|":
				r.Or(ai, bi)
			default:
				r.Xor(ai, bi)
			}
			return r, nil
		case "<<", ">>":
			if !aInt || !bInt {
				return nil, unsupported(op, a, b)
			}
			return e.shift(op, ai, bi)
		case "@":
			return nil, unsupported(op, a, b)
		}
		if aInt && bInt {
			return e.intOp(op, ai, bi)
		}
		// Mixed or float operands: int operands become floats first.
		x, y, err := asFloats(a, b)
		if err != nil {
			return nil, err
		}
		if op == "**" {
			return floatPow(x, y)
		}
		return floatOp(op, x, y)
	}
	switch op {
	case "|":
		// Python 3.9+ dict union: a copy of a updated by b.
		x, ok1 := a.(*pyDict)
		y, ok2 := b.(*pyDict)
		if ok1 && ok2 {
			return e.dictUnion(x, y)
		}
	case "+":
		switch x := a.(type) {
		case string:
			y, ok := b.(string)
			if !ok {
				return nil, pyErrf("can only concatenate str (not \"%s\") to str", typeName(b))
			}
			if len(x)+len(y) > maxStrBytes {
				return nil, errTooLarge
			}
			return x + y, nil
		case pyList:
			y, ok := b.(pyList)
			if !ok {
				return nil, pyErrf("can only concatenate list (not \"%s\") to list", typeName(b))
			}
			if weightOf(x, e.lim.MaxItems)+weightOf(y, e.lim.MaxItems) > e.lim.MaxItems {
				return nil, errTooLarge
			}
			return append(append(pyList{}, x...), y...), nil
		case pyTuple:
			y, ok := b.(pyTuple)
			if !ok {
				return nil, pyErrf("can only concatenate tuple (not \"%s\") to tuple", typeName(b))
			}
			if weightOf(x, e.lim.MaxItems)+weightOf(y, e.lim.MaxItems) > e.lim.MaxItems {
				return nil, errTooLarge
			}
			return append(append(pyTuple{}, x...), y...), nil
		}
	case "*":
		seq, cnt := a, b
		if _, ok := asInt(a); ok && isSeq(b) {
			seq, cnt = b, a
		}
		if isSeq(seq) {
			if n, ok := asInt(cnt); ok {
				return e.repeat(seq, n)
			}
			return nil, pyErrf("can't multiply sequence by non-int of type '%s'", typeName(cnt))
		}
		if isSeq(cnt) {
			return nil, pyErrf("can't multiply sequence by non-int of type '%s'", typeName(seq))
		}
	}
	return nil, unsupported(op, a, b)
}

func (e *evaluator) shift(op string, a, n *big.Int) (any, error) {
	if n.Sign() < 0 {
		return nil, pyErrf("negative shift count")
	}
	if op == ">>" {
		if !n.IsInt64() || n.Int64() > int64(a.BitLen()) {
			if a.Sign() < 0 {
				return big.NewInt(-1), nil
			}
			return new(big.Int), nil
		}
		return new(big.Int).Rsh(a, uint(n.Int64())), nil
	}
	if a.Sign() == 0 {
		return new(big.Int), nil
	}
	if !n.IsInt64() || n.Int64()+int64(a.BitLen()) > int64(e.lim.MaxBits) {
		return nil, errDigits
	}
	if err := e.charge(words(n.Int64() + int64(a.BitLen()))); err != nil {
		return nil, err
	}
	return new(big.Int).Lsh(a, uint(n.Int64())), nil
}

// floorDivMod is Python's // and % on ints: the quotient rounds toward
// negative infinity and the remainder takes the divisor's sign.
func floorDivMod(a, b *big.Int) (q, r *big.Int) {
	q, r = new(big.Int).QuoRem(a, b, new(big.Int))
	if r.Sign() != 0 && (r.Sign() < 0) != (b.Sign() < 0) {
		q.Sub(q, bigOne)
		r.Add(r, b)
	}
	return q, r
}

func (e *evaluator) intOp(op string, a, b *big.Int) (any, error) {
	wa, wb := wordsOf(a), wordsOf(b)
	c := costMul(wa, wb) // *, /, //, %
	switch op {
	case "+", "-":
		c = costAdd(wa, wb)
	case "**":
		c = 0 // intPow charges by the result's size
	}
	if err := e.charge(c); err != nil {
		return nil, err
	}
	switch op {
	case "+", "-":
		if max(a.BitLen(), b.BitLen()) >= e.lim.MaxBits {
			return nil, errDigits
		}
		if op == "+" {
			return new(big.Int).Add(a, b), nil
		}
		return new(big.Int).Sub(a, b), nil
	case "*":
		if a.BitLen()+b.BitLen() > e.lim.MaxBits+1 {
			return nil, errDigits
		}
		return new(big.Int).Mul(a, b), nil
	case "/":
		if b.Sign() == 0 {
			return nil, pyErrf("division by zero")
		}
		return intTrueDiv(a, b)
	case "//":
		if b.Sign() == 0 {
			return nil, pyErrf("integer division or modulo by zero")
		}
		q, _ := floorDivMod(a, b)
		return q, nil
	case "%":
		if b.Sign() == 0 {
			return nil, pyErrf("integer modulo by zero")
		}
		_, r := floorDivMod(a, b)
		return r, nil
	case "**":
		return e.intPow(a, b)
	}
	return nil, unsupported(op, a, b)
}

// intTrueDiv is Python's int / int: correctly rounded.
func intTrueDiv(a, b *big.Int) (any, error) {
	if a.IsInt64() && b.IsInt64() {
		x, y := a.Int64(), b.Int64()
		if x > -(1<<53) && x < 1<<53 && y > -(1<<53) && y < 1<<53 {
			return float64(x) / float64(y), nil
		}
	}
	f, _ := new(big.Rat).SetFrac(a, b).Float64()
	if math.IsInf(f, 0) {
		return nil, pyErrf("integer division result too large for a float")
	}
	if f == 0 && (a.Sign() < 0) != (b.Sign() < 0) {
		return math.Copysign(0, -1), nil // 0 / -big is -0.0, as in CPython
	}
	return f, nil
}

func (e *evaluator) intPow(a, b *big.Int) (any, error) {
	if b.Sign() < 0 {
		x, y, err := asFloats(a, b)
		if err != nil {
			return nil, err
		}
		return floatPow(x, y)
	}
	// Trivial bases never grow, whatever the exponent.
	if a.Sign() == 0 {
		if b.Sign() == 0 {
			return big.NewInt(1), nil
		}
		return new(big.Int), nil
	}
	if a.CmpAbs(bigOne) == 0 {
		if a.Sign() < 0 && b.Bit(0) == 1 {
			return big.NewInt(-1), nil
		}
		return big.NewInt(1), nil
	}
	// |a| ≥ 2, so the result has more than (bitlen(a)-1)·b bits: refuse
	// before multiplying anything (9**9**9 is answered at once).
	if !b.IsInt64() || (int64(a.BitLen())-1)*b.Int64() > int64(e.lim.MaxBits) || b.Int64() > int64(e.lim.MaxBits) {
		return nil, errDigits
	}
	if err := e.charge(costPow(powBits(int64(a.BitLen()), b.Int64()))); err != nil {
		return nil, err
	}
	return new(big.Int).Exp(a, b, nil), nil
}

// floatOp is + - * / // % on floats with CPython's rules and messages.
func floatOp(op string, x, y float64) (any, error) {
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		if y == 0 {
			return nil, pyErrf("float division by zero")
		}
		return x / y, nil
	case "//":
		if y == 0 {
			return nil, pyErrf("float floor division by zero")
		}
		d, _ := floatDivMod(x, y)
		return d, nil
	case "%":
		if y == 0 {
			return nil, pyErrf("float modulo")
		}
		return floatMod(x, y), nil
	}
	return nil, unsupported(op, x, y)
}

// floatMod follows CPython's float_rem.
func floatMod(x, y float64) float64 {
	mod := math.Mod(x, y)
	if mod != 0 {
		if (y < 0) != (mod < 0) {
			mod += y
		}
	} else {
		mod = math.Copysign(0, y)
	}
	return mod
}

// floatDivMod follows CPython's float_divmod.
func floatDivMod(x, y float64) (floordiv, mod float64) {
	mod = math.Mod(x, y)
	div := (x - mod) / y
	if mod != 0 {
		if (y < 0) != (mod < 0) {
			mod += y
			div -= 1.0
		}
	} else {
		mod = math.Copysign(0, y)
	}
	if div != 0 {
		floordiv = math.Floor(div)
		if div-floordiv > 0.5 {
			floordiv += 1.0
		}
	} else {
		floordiv = math.Copysign(0, x/y)
	}
	return floordiv, mod
}

func isOddInteger(f float64) bool {
	return math.Mod(f, 2) == 1 || math.Mod(f, 2) == -1
}

// floatPow follows CPython's float_pow: its special cases first, then the
// C library's pow for a finite positive base (glibcPow, pow.go, the same
// bits as glibc's); an infinite result is the OverflowError CPython raises
// from errno ERANGE, a result that underflows is returned as 0.0 or a
// subnormal, as CPython does.
func floatPow(x, y float64) (any, error) {
	switch {
	case y == 0:
		return 1.0, nil
	case math.IsNaN(x):
		return x, nil
	case math.IsNaN(y):
		if x == 1 {
			return 1.0, nil
		}
		return y, nil
	case math.IsInf(y, 0):
		ax := math.Abs(x)
		switch {
		case ax == 1:
			return 1.0, nil
		case (y > 0) == (ax > 1):
			return math.Inf(1), nil
		}
		return 0.0, nil
	case math.IsInf(x, 0):
		odd := isOddInteger(y)
		if y > 0 {
			if odd {
				return x, nil
			}
			return math.Abs(x), nil
		}
		if odd {
			return math.Copysign(0, x), nil
		}
		return 0.0, nil
	case x == 0:
		if y < 0 {
			return nil, pyErrf("0.0 cannot be raised to a negative power")
		}
		if isOddInteger(y) {
			return x, nil
		}
		return 0.0, nil
	}
	negate := false
	if x < 0 {
		if y != math.Floor(y) {
			return nil, errComplex
		}
		x = -x
		negate = isOddInteger(y)
	}
	if x == 1 {
		if negate {
			return -1.0, nil
		}
		return 1.0, nil
	}
	r := glibcPow(x, y)
	if math.IsInf(r, 0) {
		return nil, errOverflow
	}
	if negate {
		r = -r
	}
	return r, nil
}
