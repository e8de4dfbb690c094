package pyexpr

// Builtins: the calls an expression may make (abs, round, min, max, pow,
// divmod, int, float, str, len, bool).

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var builtins = map[string]bool{
	"abs": true, "round": true, "min": true, "max": true, "pow": true, "divmod": true,
	"int": true, "float": true, "str": true, "len": true, "bool": true,
}

func (e *evaluator) call(n *node) (any, error) {
	fv, err := e.eval(n.args[0])
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(n.args)-1)
	for _, a := range n.args[1:] {
		v, err := e.eval(a)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	f, ok := fv.(pyFunc)
	if !ok {
		return nil, pyErrf("'%s' object is not callable", typeName(fv))
	}
	if n.kw {
		return nil, pyErrf("%s() keyword or star arguments are not supported", f)
	}
	if f == "min" || f == "max" {
		return e.minMaxKw(string(f), args, n.kwn)
	}
	if args, err = keywordArgs(string(f), args, n.kwn); err != nil {
		return nil, err
	}
	return e.builtin(string(f), args)
}

func argCount(name string, args []any, lo, hi int) error {
	if len(args) >= lo && len(args) <= hi {
		return nil
	}
	if lo == hi {
		if lo == 1 {
			return pyErrf("%s() takes exactly one argument (%d given)", name, len(args))
		}
		return pyErrf("%s expected %d arguments, got %d", name, lo, len(args))
	}
	if len(args) < lo {
		return pyErrf("%s expected at least %d argument%s, got %d", name, lo, plural(lo), len(args))
	}
	return pyErrf("%s expected at most %d argument%s, got %d", name, hi, plural(hi), len(args))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (e *evaluator) builtin(name string, args []any) (any, error) {
	switch name {
	case "abs":
		if err := argCount(name, args, 1, 1); err != nil {
			return nil, err
		}
		switch x := args[0].(type) {
		case float64:
			return math.Abs(x), nil
		}
		if i, ok := asInt(args[0]); ok {
			return new(big.Int).Abs(i), nil
		}
		return nil, pyErrf("bad operand type for abs(): '%s'", typeName(args[0]))
	case "bool":
		if err := argCount(name, args, 0, 1); err != nil {
			return nil, err
		}
		return len(args) == 1 && truthy(args[0]), nil
	case "len":
		if err := argCount(name, args, 1, 1); err != nil {
			return nil, err
		}
		switch x := args[0].(type) {
		case string:
			return big.NewInt(int64(utf8.RuneCountInString(x))), nil
		case pyTuple:
			return big.NewInt(int64(len(x))), nil
		case pyList:
			return big.NewInt(int64(len(x))), nil
		case *pyDict:
			return big.NewInt(int64(len(x.keys))), nil
		}
		return nil, pyErrf("object of type '%s' has no len()", typeName(args[0]))
	case "str":
		switch len(args) {
		case 0:
			return "", nil
		case 1:
			if err := e.chargeText(args[0]); err != nil {
				return nil, err
			}
			return pyStr(args[0])
		case 2, 3:
			// str(object, encoding[, errors]) decodes bytes, which this
			// language has none of: CPython's checks, in its order.
			for i, p := range []string{"encoding", "errors"}[:len(args)-1] {
				if _, ok := args[i+1].(string); !ok {
					return nil, pyErrf("str() argument '%s' must be str, not %s", p, typeName(args[i+1]))
				}
			}
			if _, ok := args[0].(string); ok {
				return nil, pyErrf("decoding str is not supported")
			}
			return nil, pyErrf("decoding to str: need a bytes-like object, %s found", typeName(args[0]))
		}
		return nil, pyErrf("str() takes at most 3 arguments (%d given)", len(args))
	case "int":
		if len(args) > 2 {
			return nil, pyErrf("int() takes at most 2 arguments (%d given)", len(args))
		}
		if len(args) > 0 {
			if str, ok := args[0].(string); ok {
				// Decimal text is converted in quadratic time, binary bases
				// in linear time; decimal text is cut at 4,300 digits.
				if err := e.charge(costDecimal(words(4*int64(min(len(str), maxLiteralDigits+1)))) + words(8*int64(len(str)))); err != nil {
					return nil, err
				}
			}
		}
		switch len(args) {
		case 0:
			return new(big.Int), nil
		case 2:
			return e.intWithBase(args[0], args[1])
		}
		return toInt(args[0])
	case "float":
		if err := argCount(name, args, 0, 1); err != nil {
			return nil, err
		}
		if len(args) == 0 {
			return 0.0, nil
		}
		return toFloat(args[0])
	case "round":
		switch {
		case len(args) == 0:
			return nil, pyErrf("round() missing required argument 'number' (pos 1)")
		case len(args) > 2:
			return nil, pyErrf("round() takes at most 2 arguments (%d given)", len(args))
		}
		if i, ok := asInt(args[0]); ok && len(args) == 2 {
			// Negative ndigits: a decimal conversion, a power of ten and a
			// division of the integer's size.
			if err := e.charge(costDecimal(wordsOf(i)) + 2*costMul(wordsOf(i), wordsOf(i))); err != nil {
				return nil, err
			}
		}
		return pyRound(args)
	case "divmod":
		if err := argCount(name, args, 2, 2); err != nil {
			return nil, err
		}
		a, b := args[0], args[1]
		if !isNumber(a) || !isNumber(b) {
			return nil, unsupported("divmod()", a, b)
		}
		ai, aInt := asInt(a)
		bi, bInt := asInt(b)
		if aInt && bInt {
			if bi.Sign() == 0 {
				return nil, pyErrf("integer division or modulo by zero")
			}
			if err := e.charge(costMul(wordsOf(ai), wordsOf(bi))); err != nil {
				return nil, err
			}
			q, r := floorDivMod(ai, bi)
			return pyTuple{q, r}, nil
		}
		x, y, err := asFloats(a, b)
		if err != nil {
			return nil, err
		}
		if y == 0 {
			return nil, pyErrf("float divmod()")
		}
		d, m := floatDivMod(x, y)
		return pyTuple{d, m}, nil
	case "pow":
		if len(args) < 2 || len(args) > 3 {
			if len(args) < 2 {
				return nil, pyErrf("pow() missing required argument '%s' (pos %d)", []string{"base", "exp"}[len(args)], len(args)+1)
			}
			return nil, pyErrf("pow() takes at most 3 arguments (%d given)", len(args))
		}
		if len(args) == 2 || args[2] == (pyNone{}) {
			if !isNumber(args[0]) || !isNumber(args[1]) {
				return nil, pyErrf("unsupported operand type(s) for ** or pow(): '%s' and '%s'", typeName(args[0]), typeName(args[1]))
			}
			return e.binop("**", args[0], args[1])
		}
		return e.powMod(args[0], args[1], args[2])
	case "min", "max":
		return e.minMax(name, args, nil, nil)
	}
	return nil, errName
}

func (e *evaluator) powMod(a, b, m any) (any, error) {
	ai, ok1 := asInt(a)
	bi, ok2 := asInt(b)
	mi, ok3 := asInt(m)
	if !ok1 || !ok2 || !ok3 {
		if isNumber(a) && isNumber(b) && isNumber(m) {
			return nil, pyErrf("pow() 3rd argument not allowed unless all arguments are integers")
		}
		return nil, pyErrf("unsupported operand type(s) for ** or pow(): '%s', '%s', '%s'", typeName(a), typeName(b), typeName(m))
	}
	if mi.Sign() == 0 {
		return nil, pyErrf("pow() 3rd argument cannot be 0")
	}
	// Modular exponentiation costs bitlen(exp) multiplications of
	// modulus-sized numbers: bound both.
	if bi.BitLen() > 4096 || mi.BitLen() > 4096 {
		return nil, errDigits
	}
	if err := e.charge(costPowMod(int64(bi.BitLen()), int64(mi.BitLen())) + costMul(wordsOf(ai), wordsOf(mi))); err != nil {
		return nil, err
	}
	am := new(big.Int).Abs(mi)
	if am.Cmp(bigOne) == 0 {
		return new(big.Int), nil
	}
	base := new(big.Int).Mod(ai, am)
	exp := bi
	if bi.Sign() < 0 {
		inv := new(big.Int).ModInverse(base, am)
		if inv == nil || new(big.Int).GCD(nil, nil, base, am).Cmp(bigOne) != 0 {
			return nil, pyErrf("base is not invertible for the given modulus")
		}
		base, exp = inv, new(big.Int).Neg(bi)
	}
	r := new(big.Int).Exp(base, exp, am)
	// Python's result has the modulus' sign.
	if mi.Sign() < 0 && r.Sign() != 0 {
		r.Add(r, mi)
	}
	return r, nil
}

// minMax is min() and max(); key is nil or a builtin to compare by, def
// nil or the value for an empty iterable.
func (e *evaluator) minMax(name string, args []any, key, def any) (any, error) {
	if len(args) == 0 {
		return nil, pyErrf("%s expected at least 1 argument, got 0", name)
	}
	if len(args) > 1 && def != nil {
		return nil, pyErrf("Cannot specify a default for %s() with multiple positional arguments", name)
	}
	items := args
	if len(args) == 1 {
		switch x := args[0].(type) {
		case pyTuple:
			items = x
		case pyList:
			items = x
		case *pyDict:
			items = x.keys
		case string:
			items = nil
			for _, r := range x {
				items = append(items, string(r))
			}
		default:
			return nil, pyErrf("'%s' object is not iterable", typeName(args[0]))
		}
		if len(items) == 0 {
			if def != nil {
				return def, nil
			}
			return nil, pyErrf("%s() arg is an empty sequence", name)
		}
	}
	if key == (pyNone{}) {
		key = nil
	}
	keyOf := func(v any) (any, error) {
		if key == nil {
			return v, nil
		}
		f, ok := key.(pyFunc)
		if !ok {
			return nil, pyErrf("'%s' object is not callable", typeName(key))
		}
		return e.builtin(string(f), []any{v})
	}
	op := "<"
	if name == "max" {
		op = ">"
	}
	best := items[0]
	bestKey, err := keyOf(best)
	if err != nil {
		return nil, err
	}
	for _, v := range items[1:] {
		if err := e.step(1); err != nil {
			return nil, err
		}
		k, err := keyOf(v)
		if err != nil {
			return nil, err
		}
		better, err := e.compare(op, k, bestKey)
		if err != nil {
			return nil, err
		}
		if better {
			best, bestKey = v, k
		}
	}
	return best, nil
}

func toInt(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) {
			return nil, pyErrf("cannot convert float infinity to integer")
		}
		if math.IsNaN(x) {
			return nil, pyErrf("cannot convert float NaN to integer")
		}
		i, _ := new(big.Float).SetFloat64(math.Trunc(x)).Int(nil)
		return i, nil
	case string:
		return parseIntString(x)
	}
	if i, ok := asInt(v); ok {
		return new(big.Int).Set(i), nil
	}
	return nil, pyErrf("int() argument must be a string, a bytes-like object or a real number, not '%s'", typeName(v))
}

// parseIntString is int(str): base 10, with Python's digit limit and
// messages (intbase.go).
func parseIntString(s string) (any, error) {
	return intFromString(s, 10, DefaultLimits.MaxBits)
}

// floatStrRe is the decimal part of float()'s string grammar (ASCII digits
// only; Python also accepts other Unicode decimal digits).
var floatStrRe = regexp.MustCompile(`^(?:[0-9](?:_?[0-9])*)?(?:\.(?:[0-9](?:_?[0-9])*)?)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?$`)

func toFloat(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		t := strings.TrimSpace(asciiDecimal(x))
		low := strings.ToLower(strings.TrimLeft(t, "+-"))
		neg := strings.HasPrefix(t, "-")
		signs := len(t) - len(strings.TrimLeft(t, "+-"))
		if signs <= 1 {
			switch low {
			case "nan":
				return math.NaN(), nil
			case "inf", "infinity":
				if neg {
					return math.Inf(-1), nil
				}
				return math.Inf(1), nil
			}
		}
		body := strings.TrimLeft(t, "+-")
		// float() has its own grammar, not the literal one: leading zeros
		// are fine ("007"), prefixes are not ("0x10"), and the mantissa
		// needs a digit (".", ".e5" are errors).
		if signs <= 1 && floatStrRe.MatchString(body) && strings.ContainsAny(strings.SplitN(strings.ToLower(body), "e", 2)[0], "0123456789") {
			// ParseFloat rounds correctly and gives ±Inf on overflow, as
			// Python does.
			f, _ := strconv.ParseFloat(strings.ReplaceAll(body, "_", ""), 64)
			if neg {
				f = -f
			}
			return f, nil
		}
		return nil, pyErrf("could not convert string to float: %s", pyStrRepr(x))
	}
	if i, ok := asInt(v); ok {
		return asFloat(i)
	}
	return nil, pyErrf("float() argument must be a string or a real number, not '%s'", typeName(v))
}

// pyRound is round(x[, ndigits]) with Python's half-to-even rules on the
// exact binary value.
func pyRound(args []any) (any, error) {
	x := args[0]
	if !isNumber(x) {
		return nil, pyErrf("type %s doesn't define __round__ method", typeName(x))
	}
	var nd *big.Int
	if len(args) == 2 && args[1] != (pyNone{}) {
		i, ok := asInt(args[1])
		if !ok {
			return nil, pyErrf("'%s' object cannot be interpreted as an integer", typeName(args[1]))
		}
		nd = i
	}
	if f, ok := x.(float64); ok {
		if nd == nil {
			if math.IsInf(f, 0) {
				return nil, pyErrf("cannot convert float infinity to integer")
			}
			if math.IsNaN(f) {
				return nil, pyErrf("cannot convert float NaN to integer")
			}
			i, _ := new(big.Float).SetFloat64(math.RoundToEven(f)).Int(nil)
			return i, nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) || f == 0 {
			return f, nil
		}
		if !nd.IsInt64() || nd.Int64() > 400 {
			if nd.Sign() > 0 {
				return f, nil
			}
			return math.Copysign(0, f), nil
		}
		n := nd.Int64()
		if n < -400 {
			return math.Copysign(0, f), nil
		}
		if n >= 0 {
			r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(n), 64), 64)
			return r, nil
		}
		// Negative ndigits: round the exact value to a multiple of 10^-n.
		p := new(big.Int).Exp(bigTen, big.NewInt(-n), nil)
		exact := new(big.Rat).SetFloat64(f)
		q := new(big.Rat).Quo(exact, new(big.Rat).SetInt(p))
		qi := roundHalfEvenRat(q)
		r, _ := new(big.Rat).SetInt(qi.Mul(qi, p)).Float64()
		if math.IsInf(r, 0) {
			return nil, pyErrf("rounded value too large to represent")
		}
		return math.Copysign(r, f), nil
	}
	i, ok := asInt(x)
	if !ok {
		return nil, pyErrf("type %s doesn't define __round__ method", typeName(x))
	}
	if nd == nil || nd.Sign() >= 0 {
		return new(big.Int).Set(i), nil
	}
	if !nd.IsInt64() || -nd.Int64() > int64(len(i.String())) {
		return new(big.Int), nil
	}
	p := new(big.Int).Exp(bigTen, new(big.Int).Neg(nd), nil)
	qi := roundHalfEvenRat(new(big.Rat).SetFrac(i, p))
	return qi.Mul(qi, p), nil
}

func roundHalfEvenRat(q *big.Rat) *big.Int {
	num, den := q.Num(), q.Denom()
	fl, rem := floorDivMod(num, den)
	twice := new(big.Int).Lsh(rem, 1)
	switch c := twice.Cmp(den); {
	case c > 0, c == 0 && fl.Bit(0) == 1:
		fl.Add(fl, bigOne)
	}
	return fl
}
