package zmqcmd

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bound one evaluation; every one is checked before the work it
// guards.
type Limits struct {
	MaxExpression int           // bytes of source
	MaxNodes      int           // nodes of the parsed tree
	MaxDepth      int           // bracket nesting (CPython: 200)
	MaxBits       int           // bits of any intermediate integer
	MaxItems      int           // elements of any list/tuple built
	Timeout       time.Duration // wall-clock budget, checked between steps
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

// Evaluate parses and evaluates a compute expression and returns the
// JSON-ready result, or an *evalError whose text is the reply message.
func Evaluate(src string, lim Limits) (any, error) {
	if v, ok := evalSmallInt(src, lim); ok {
		return big.NewInt(v), nil
	}
	return evaluateFull(src, lim)
}

// evaluateFull is Evaluate without the small-integer fast path.
func evaluateFull(src string, lim Limits) (any, error) {
	n, err := prepare(src, lim)
	if err != nil {
		return nil, err
	}
	return evaluateTree(n, lim)
}

// prepare parses src and refuses hopeless expressions before any work
// (the cost estimate, estimate.go). Both are cheap and bounded by the
// expression's length, so the server runs them before waiting for a
// computation slot.
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
	e := &evaluator{lim: lim}
	if lim.Timeout > 0 {
		e.deadline = time.Now().Add(lim.Timeout)
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

type evaluator struct {
	lim        Limits
	deadline   time.Time
	steps      int
	nextCheck  int
	cost       int64 // cost units charged so far (cost.go)
	lastCharge int64 // the latest charge (refused work is not done)
}

func (e *evaluator) step(n int) error {
	e.steps += n
	e.cost += int64(n)
	if e.lim.Budget > 0 && e.cost > e.lim.Budget {
		return errBudget
	}
	if e.steps >= e.nextCheck && !e.deadline.IsZero() {
		e.nextCheck = e.steps + 64
		if time.Now().After(e.deadline) {
			return errTimeout
		}
	}
	return nil
}

var builtins = map[string]bool{
	"abs": true, "round": true, "min": true, "max": true, "pow": true, "divmod": true,
	"int": true, "float": true, "str": true, "len": true, "bool": true,
}

func (e *evaluator) eval(n *node) (any, error) {
	if err := e.step(1); err != nil {
		return nil, err
	}
	switch n.kind {
	case nLit:
		return n.lit, nil
	case nName:
		if builtins[n.op] {
			return pyFunc(n.op), nil
		}
		return nil, errName
	case nTuple, nList, nSet:
		items := make([]any, 0, len(n.args))
		for _, a := range n.args {
			v, err := e.eval(a)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		if weightOf(items, e.lim.MaxItems) > e.lim.MaxItems {
			return nil, errTooLarge
		}
		switch n.kind {
		case nTuple:
			return pyTuple(items), nil
		case nList:
			return pyList(items), nil
		}
		for _, v := range items {
			if err := hashable(v); err != nil {
				return nil, err
			}
		}
		return nil, pyErrf("Object of type set is not JSON serializable")
	case nDict:
		d := &pyDict{}
		for i := 0; i < len(n.args); i += 2 {
			k, err := e.eval(n.args[i])
			if err != nil {
				return nil, err
			}
			v, err := e.eval(n.args[i+1])
			if err != nil {
				return nil, err
			}
			if err := hashable(k); err != nil {
				return nil, err
			}
			if err := e.step(len(d.keys)); err != nil {
				return nil, err
			}
			replaced := false
			for j, kk := range d.keys {
				if pyEqual(kk, k) {
					d.vals[j], replaced = v, true
					break
				}
			}
			if !replaced {
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
			}
		}
		if weightOf(d.keys, e.lim.MaxItems)+weightOf(d.vals, e.lim.MaxItems) > e.lim.MaxItems {
			return nil, errTooLarge
		}
		return d, nil
	case nUnary:
		v, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		return unary(n.op, v)
	case nBin:
		a, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		b, err := e.eval(n.args[1])
		if err != nil {
			return nil, err
		}
		return e.binop(n.op, a, b)
	case nCmp:
		left, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		for i, op := range n.ops {
			right, err := e.eval(n.args[i+1])
			if err != nil {
				return nil, err
			}
			ok, err := e.compare(op, left, right)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			left = right
		}
		return true, nil
	case nAnd, nOr:
		a, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		if truthy(a) == (n.kind == nOr) {
			return a, nil
		}
		return e.eval(n.args[1])
	case nNot:
		v, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		return !truthy(v), nil
	case nIf:
		c, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return e.eval(n.args[1])
		}
		return e.eval(n.args[2])
	case nCall:
		return e.call(n)
	case nAttr:
		v, err := e.eval(n.args[0])
		if err != nil {
			return nil, err
		}
		return nil, pyErrf("'%s' object attribute '%s' is not available", typeName(v), n.op)
	case nIndex:
		return e.index(n)
	case nSlice:
		if _, err := e.eval(n.args[0]); err != nil {
			return nil, err
		}
		return nil, pyErrf("slices are not supported")
	}
	return nil, errSyntax
}

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

func (e *evaluator) dictUnion(x, y *pyDict) (any, error) {
	if weightOf(x.keys, e.lim.MaxItems)+weightOf(x.vals, e.lim.MaxItems)+
		weightOf(y.keys, e.lim.MaxItems)+weightOf(y.vals, e.lim.MaxItems) > e.lim.MaxItems {
		return nil, errTooLarge
	}
	d := &pyDict{keys: append([]any(nil), x.keys...), vals: append([]any(nil), x.vals...)}
	for i, k := range y.keys {
		if err := e.step(len(d.keys)); err != nil {
			return nil, err
		}
		replaced := false
		for j, kk := range d.keys {
			if pyEqual(kk, k) {
				d.vals[j], replaced = y.vals[i], true
				break
			}
		}
		if !replaced {
			d.keys = append(d.keys, k)
			d.vals = append(d.vals, y.vals[i])
		}
	}
	return d, nil
}

func isSeq(v any) bool {
	switch v.(type) {
	case string, pyTuple, pyList:
		return true
	}
	return false
}

func (e *evaluator) repeat(seq any, n *big.Int) (any, error) {
	if !n.IsInt64() {
		// CPython's OverflowError for a count beyond ssize_t.
		return nil, pyErrf("cannot fit 'int' into an index-sized integer")
	}
	count := 0
	if n.Sign() > 0 {
		if n.Int64() > int64(maxStrBytes)+int64(e.lim.MaxItems) {
			return nil, errTooLarge
		}
		count = int(n.Int64())
	}
	switch x := seq.(type) {
	case string:
		if len(x)*count > maxStrBytes {
			return nil, errTooLarge
		}
		return strings.Repeat(x, count), nil
	case pyTuple:
		if weightOf(x, e.lim.MaxItems)*count > e.lim.MaxItems {
			return nil, errTooLarge
		}
		out := make(pyTuple, 0, len(x)*count)
		for i := 0; i < count; i++ {
			out = append(out, x...)
		}
		return out, nil
	case pyList:
		if weightOf(x, e.lim.MaxItems)*count > e.lim.MaxItems {
			return nil, errTooLarge
		}
		out := make(pyList, 0, len(x)*count)
		for i := 0; i < count; i++ {
			out = append(out, x...)
		}
		return out, nil
	}
	return nil, errSyntax
}

// weight is the size of a value counted through nested containers (and
// strings and integers by 16 bytes of text). Containers can share items
// (x*100 repeats one list), so length alone would let
// (([0]*100)*100)*100 reach 10^6 elements for json.dumps to walk; every
// container built is kept under MaxItems by weight, which bounds every
// later walk (equality, repr, encoding) and the reply's size. Integers
// count by their decimal length (≈ bits/53 units of 16 digits): otherwise
// [10**4299]*9000 shares one big int 9000 times and a 30-byte request
// costs a 38 MB reply.
func weight(v any, limit int) int {
	switch x := v.(type) {
	case string:
		return 1 + len(x)/16
	case *big.Int:
		return 1 + x.BitLen()/53
	case pyTuple:
		return 1 + weightOf(x, limit)
	case pyList:
		return 1 + weightOf(x, limit)
	case *pyDict:
		return 1 + weightOf(x.keys, limit) + weightOf(x.vals, limit)
	}
	return 1
}

// weightOf sums item weights, stopping once over limit.
func weightOf(items []any, limit int) int {
	w := 0
	for _, it := range items {
		w += weight(it, limit-w)
		if w > limit {
			return w
		}
	}
	return w
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

func (e *evaluator) compare(op string, a, b any) (bool, error) {
	switch op {
	case "==":
		return pyEqual(a, b), nil
	case "!=":
		return !pyEqual(a, b), nil
	case "is":
		return identical(a, b), nil
	case "is not":
		return !identical(a, b), nil
	case "in", "not in":
		ok, err := e.contains(b, a)
		if op == "not in" {
			ok = !ok
		}
		return ok, err
	}
	c, ok, err := e.order(op, a, b)
	if err != nil || !ok {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

// identical approximates Python's "is" for the singletons it is used with.
func identical(a, b any) bool {
	switch x := a.(type) {
	case pyNone:
		_, ok := b.(pyNone)
		return ok
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// order compares for < <= > >=; ok is false when the answer is False
// regardless of op (NaN).
func (e *evaluator) order(op string, a, b any) (c int, ok bool, err error) {
	if isNumber(a) && isNumber(b) {
		c, un := numCmp(a, b)
		return c, !un, nil
	}
	switch x := a.(type) {
	case string:
		if y, isStr := b.(string); isStr {
			return strings.Compare(x, y), true, nil
		}
	case pyTuple:
		if y, isT := b.(pyTuple); isT {
			return e.seqOrder(op, x, y)
		}
	case pyList:
		if y, isL := b.(pyList); isL {
			return e.seqOrder(op, x, y)
		}
	}
	return 0, false, pyErrf("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
}

func (e *evaluator) seqOrder(op string, a, b []any) (int, bool, error) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if err := e.step(1); err != nil {
			return 0, false, err
		}
		if !pyEqual(a[i], b[i]) {
			return e.order(op, a[i], b[i])
		}
	}
	switch {
	case len(a) < len(b):
		return -1, true, nil
	case len(a) > len(b):
		return 1, true, nil
	}
	return 0, true, nil
}

func (e *evaluator) contains(container, item any) (bool, error) {
	switch c := container.(type) {
	case string:
		s, ok := item.(string)
		if !ok {
			return false, pyErrf("'in <string>' requires string as left operand, not %s", typeName(item))
		}
		return strings.Contains(c, s), nil
	case pyTuple:
		return e.seqContains(c, item)
	case pyList:
		return e.seqContains(c, item)
	case *pyDict:
		if err := hashable(item); err != nil {
			return false, err
		}
		_, ok := c.get(item)
		return ok, nil
	}
	return false, pyErrf("argument of type '%s' is not iterable", typeName(container))
}

func (e *evaluator) seqContains(items []any, v any) (bool, error) {
	if err := e.step(len(items)); err != nil {
		return false, err
	}
	for _, x := range items {
		if pyEqual(x, v) {
			return true, nil
		}
	}
	return false, nil
}

func (e *evaluator) index(n *node) (any, error) {
	v, err := e.eval(n.args[0])
	if err != nil {
		return nil, err
	}
	k, err := e.eval(n.args[1])
	if err != nil {
		return nil, err
	}
	if d, ok := v.(*pyDict); ok {
		if err := hashable(k); err != nil {
			return nil, err
		}
		if r, ok := d.get(k); ok {
			return r, nil
		}
		s, err := pyRepr(k)
		if err != nil {
			return nil, err
		}
		return nil, pyErrf("%s", s)
	}
	var length int
	switch x := v.(type) {
	case string:
		length = utf8.RuneCountInString(x)
	case pyTuple:
		length = len(x)
	case pyList:
		length = len(x)
	default:
		return nil, pyErrf("'%s' object is not subscriptable", typeName(v))
	}
	i, ok := asInt(k)
	if !ok {
		if _, ok := v.(string); ok {
			// CPython 3.11's str wording differs from list and tuple.
			return nil, pyErrf("string indices must be integers, not '%s'", typeName(k))
		}
		return nil, pyErrf("%s indices must be integers or slices, not %s", typeName(v), typeName(k))
	}
	idx := int64(-1)
	if i.IsInt64() {
		idx = i.Int64()
		if idx < 0 {
			idx += int64(length)
		}
	}
	if idx < 0 || idx >= int64(length) {
		kind := typeName(v)
		if kind == "str" {
			kind = "string"
		}
		return nil, pyErrf("%s index out of range", kind)
	}
	switch x := v.(type) {
	case string:
		return string([]rune(x)[idx]), nil
	case pyTuple:
		return x[idx], nil
	}
	return v.(pyList)[idx], nil
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
