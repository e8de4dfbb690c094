package pyexpr

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Python values the evaluator produces: pyNone, bool, *big.Int (never
// mutated once made), float64, string, pyTuple, pyList, *pyDict, pyFunc.
type (
	pyNone  struct{}
	pyTuple []any
	pyList  []any
	pyFunc  string
	pyDict  struct{ keys, vals []any }
)

// Error is an error whose text goes to the client verbatim: the
// original answered str(exception), and these are Python's own texts.
type Error struct {
	msg  string
	kind string // for the log: "syntax", "name", "runtime", "limit", "timeout", "budget", "estimate", "busy"
}

func (e *Error) Error() string { return e.msg }

func pyErrf(format string, a ...any) error {
	return &Error{msg: fmt.Sprintf(format, a...), kind: "runtime"}
}

var (
	errSyntax = &Error{"Invalid expression syntax", "syntax"}
	errName   = &Error{"Invalid variable name in expression", "name"}
	// errDigits is what Python 3.11 raises when a result above 4,300 digits
	// is formatted; the original hit it in its log line. We raise it before
	// computing anything that large.
	errDigits = &Error{"Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit", "limit"}
	// errTooComplex is CPython's answer to an expression too big to
	// compile (docs/zmqcmd.md, "Reference vectors": 100,001 terms); we give it for anything over the
	// length, node or recursion limits.
	errTooComplex = &Error{"maximum recursion depth exceeded during compilation", "limit"}
	errComplex    = &Error{"Complex numbers are not supported", "runtime"}
	errTooLarge   = &Error{"Result too large", "limit"}
	errTimeout    = &Error{"Computation timed out", "timeout"}
	errOverflow   = &Error{"(34, 'Numerical result out of range')", "runtime"}
)

// maxStrBytes bounds any string the evaluator builds.
const maxStrBytes = 64 << 10

func typeName(v any) string {
	switch v.(type) {
	case pyNone:
		return "NoneType"
	case bool:
		return "bool"
	case *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyTuple:
		return "tuple"
	case pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyFunc:
		return "builtin_function_or_method"
	}
	return "object"
}

// asInt returns v as an integer if it is an int or a bool (bool is an int
// subclass in Python).
func asInt(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case *big.Int:
		return x, true
	case bool:
		if x {
			return bigOne, true
		}
		return bigZero, true
	}
	return nil, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case *big.Int, bool, float64:
		return true
	}
	return false
}

// intToFloat converts like Python's float(int): correctly rounded, and an
// OverflowError when out of range.
func intToFloat(i *big.Int) (float64, error) {
	if i.IsInt64() {
		n := i.Int64()
		if n > -(1<<53) && n < 1<<53 {
			return float64(n), nil
		}
	}
	f, _ := new(big.Float).SetInt(i).Float64()
	if math.IsInf(f, 0) {
		return 0, pyErrf("int too large to convert to float")
	}
	return f, nil
}

// asFloats converts both operands of a mixed or float operation, a first,
// as Python does (the first failure is the one reported).
func asFloats(a, b any) (x, y float64, err error) {
	if x, err = asFloat(a); err != nil {
		return 0, 0, err
	}
	y, err = asFloat(b)
	return x, y, err
}

func asFloat(v any) (float64, error) {
	if f, ok := v.(float64); ok {
		return f, nil
	}
	i, _ := asInt(v)
	return intToFloat(i)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case pyNone:
		return false
	case bool:
		return x
	case *big.Int:
		return x.Sign() != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case pyTuple:
		return len(x) > 0
	case pyList:
		return len(x) > 0
	case *pyDict:
		return len(x.keys) > 0
	}
	return true
}

// numCmp compares two numbers exactly (Python compares int and float by
// value, not after rounding). unordered is true when a NaN is involved.
func numCmp(a, b any) (c int, unordered bool) {
	ai, aInt := asInt(a)
	bi, bInt := asInt(b)
	if aInt && bInt {
		return ai.Cmp(bi), false
	}
	if !aInt && !bInt {
		x, y := a.(float64), b.(float64)
		switch {
		case math.IsNaN(x) || math.IsNaN(y):
			return 0, true
		case x < y:
			return -1, false
		case x > y:
			return 1, false
		}
		return 0, false
	}
	var i *big.Int
	var f float64
	sign := 1
	if aInt {
		i, f = ai, b.(float64)
	} else {
		i, f, sign = bi, a.(float64), -1
	}
	if math.IsNaN(f) {
		return 0, true
	}
	if math.IsInf(f, 0) {
		if f > 0 {
			return -sign, false
		}
		return sign, false
	}
	bf := new(big.Float).SetPrec(uint(max(64, i.BitLen()+1))).SetInt(i)
	return sign * bf.Cmp(new(big.Float).SetFloat64(f)), false
}

// pyEqual is Python ==.
func pyEqual(a, b any) bool {
	if isNumber(a) && isNumber(b) {
		c, un := numCmp(a, b)
		return !un && c == 0
	}
	switch x := a.(type) {
	case pyNone:
		_, ok := b.(pyNone)
		return ok
	case string:
		y, ok := b.(string)
		return ok && x == y
	case pyTuple:
		y, ok := b.(pyTuple)
		return ok && seqEqual(x, y)
	case pyList:
		y, ok := b.(pyList)
		return ok && seqEqual(x, y)
	case *pyDict:
		y, ok := b.(*pyDict)
		if !ok || len(x.keys) != len(y.keys) {
			return false
		}
		for i, k := range x.keys {
			v, ok := y.get(k)
			if !ok || !pyEqual(x.vals[i], v) {
				return false
			}
		}
		return true
	case pyFunc:
		y, ok := b.(pyFunc)
		return ok && x == y
	}
	return false
}

func seqEqual(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !pyEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (d *pyDict) get(k any) (any, bool) {
	for i, kk := range d.keys {
		if pyEqual(kk, k) {
			return d.vals[i], true
		}
	}
	return nil, false
}

func hashable(v any) error {
	switch x := v.(type) {
	case pyList, *pyDict:
		return pyErrf("unhashable type: '%s'", typeName(v))
	case pyTuple:
		for _, e := range x {
			if err := hashable(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// intDigitsOK reports whether i has at most maxDigits decimal digits,
// without converting huge numbers.
func intDigitsOK(i *big.Int) bool {
	bl := i.BitLen()
	if bl <= 14284 { // < 2^14284 has at most 4300 digits
		return true
	}
	if bl > 14300 {
		return false
	}
	n := len(i.Text(10))
	if i.Sign() < 0 {
		n--
	}
	return n <= maxLiteralDigits
}

// pyFloatRepr formats f as Python's repr(float): shortest round-trip
// digits, fixed notation for decimal exponents -4..15, else d.ddde±XX.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1 // value = 0.digits × 10^decpt
	var out string
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
	} else {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		out = fmt.Sprintf("%se%s%02d", m, sign, exp)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// pyRepr is Python's repr() for our values (used by str() of containers).
func pyRepr(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return pyStrRepr(x), nil
	case pyTuple:
		if len(x) == 1 {
			s, err := pyRepr(x[0])
			return "(" + s + ",)", err
		}
		return seqRepr("(", ")", x)
	case pyList:
		return seqRepr("[", "]", x)
	case *pyDict:
		var b strings.Builder
		b.WriteString("{")
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			ks, err := pyRepr(k)
			if err != nil {
				return "", err
			}
			vs, err := pyRepr(x.vals[i])
			if err != nil {
				return "", err
			}
			b.WriteString(ks + ": " + vs)
			if b.Len() > maxStrBytes {
				return "", errTooLarge
			}
		}
		b.WriteString("}")
		return b.String(), nil
	}
	return pyStr(v)
}

func seqRepr(open, close string, items []any) (string, error) {
	var b strings.Builder
	b.WriteString(open)
	for i, e := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		s, err := pyRepr(e)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
		if b.Len() > maxStrBytes {
			return "", errTooLarge
		}
	}
	b.WriteString(close)
	return b.String(), nil
}

// pyStr is Python's str().
func pyStr(v any) (string, error) {
	switch x := v.(type) {
	case pyNone:
		return "None", nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case *big.Int:
		if !intDigitsOK(x) {
			return "", errDigits
		}
		return x.String(), nil
	case float64:
		return pyFloatRepr(x), nil
	case string:
		return x, nil
	case pyFunc:
		return "<built-in function " + string(x) + ">", nil
	}
	return pyRepr(v)
}

// pyStrRepr quotes s the way Python's repr(str) does.
func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x7f || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// checkResult walks a result the way the original's log formatting did:
// any integer above 4,300 digits fails.
func checkResult(v any, depth int) error {
	if depth > 250 {
		return errTooComplex
	}
	switch x := v.(type) {
	case *big.Int:
		if !intDigitsOK(x) {
			return errDigits
		}
	case pyTuple:
		for _, e := range x {
			if err := checkResult(e, depth+1); err != nil {
				return err
			}
		}
	case pyList:
		for _, e := range x {
			if err := checkResult(e, depth+1); err != nil {
				return err
			}
		}
	case *pyDict:
		for i := range x.keys {
			if err := checkResult(x.keys[i], depth+1); err != nil {
				return err
			}
			if err := checkResult(x.vals[i], depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendJSONValue encodes v like Python's json.dumps with default
// settings. It fails where json.dumps raises (the original then sent no
// reply; we send the TypeError text).
func appendJSONValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case pyNone:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case *big.Int:
		return x.Append(dst, 10), nil
	case float64:
		return appendJSONFloat(dst, x), nil
	case string:
		return appendJSONString(dst, x), nil
	case pyTuple:
		return appendJSONSeq(dst, x)
	case pyList:
		return appendJSONSeq(dst, x)
	case *pyDict:
		dst = append(dst, '{')
		for i, k := range x.keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case float64:
				ks = pyFloatRepr(kk)
				switch ks {
				case "nan":
					ks = "NaN"
				case "inf":
					ks = "Infinity"
				case "-inf":
					ks = "-Infinity"
				}
			case *big.Int:
				ks = kk.String()
			case bool, pyNone:
				b, _ := appendJSONValue(nil, kk)
				ks = string(b)
			default:
				return nil, pyErrf("keys must be str, int, float, bool or None, not %s", typeName(k))
			}
			dst = appendJSONString(dst, ks)
			dst = append(dst, ": "...)
			var err error
			if dst, err = appendJSONValue(dst, x.vals[i]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, pyErrf("Object of type %s is not JSON serializable", typeName(v))
}

func appendJSONSeq(dst []byte, items []any) ([]byte, error) {
	dst = append(dst, '[')
	for i, e := range items {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		var err error
		if dst, err = appendJSONValue(dst, e); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// appendJSONFloat writes NaN and ±Infinity as bare tokens, as json.dumps
// does by default (allow_nan=True).
func appendJSONFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return append(dst, pyFloatRepr(f)...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString is json.dumps' ensure_ascii encoder: everything outside
// printable ASCII is escaped, astral characters as surrogate pairs, and
// <, >, & and / stay as they are. Invalid UTF-8 is encoded as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c <= '~' {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
			i++
			continue
		}
		switch c {
		case '\n':
			dst = append(dst, `\n`...)
			i++
			continue
		case '\r':
			dst = append(dst, `\r`...)
			i++
			continue
		case '\t':
			dst = append(dst, `\t`...)
			i++
			continue
		case '\b':
			dst = append(dst, `\b`...)
			i++
			continue
		case '\f':
			dst = append(dst, `\f`...)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU(dst, 0xd800+(r>>10))
			dst = appendU(dst, 0xdc00+(r&0x3ff))
			continue
		}
		dst = appendU(dst, r)
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
