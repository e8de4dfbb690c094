package pyexpr

import (
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"
)

// int(x, base) and int(str) with CPython 3.11's grammar and messages
// (PyLong_FromString): surrounding whitespace, one sign, an optional
// 0x/0o/0b prefix matching the base (base 0 takes the base from the prefix,
// and a leading 0 then allows only zero), single underscores between
// digits (one also after a prefix), digits 0-9a-zA-Z below the base, and
// the 4,300-digit limit for bases that are not powers of two.

const msgIntBase = "int() base must be >= 2 and <= 36, or 0"

// intWithBase is the two-argument int().
func (e *evaluator) intWithBase(x, b any) (any, error) {
	bi, ok := asInt(b)
	if !ok {
		return nil, pyErrf("'%s' object cannot be interpreted as an integer", typeName(b))
	}
	if !bi.IsInt64() || bi.Int64() != 0 && (bi.Int64() < 2 || bi.Int64() > 36) {
		return nil, pyErrf(msgIntBase)
	}
	s, ok := x.(string)
	if !ok {
		return nil, pyErrf("int() can't convert non-string with explicit base")
	}
	return intFromString(s, int(bi.Int64()), e.lim.MaxBits)
}

// pyIntSpace is what int() strips: ASCII whitespace (not \x1c-\x1f) and
// non-ASCII whitespace, which CPython turns into spaces first.
func pyIntSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return r >= 0x80 && unicode.IsSpace(r)
}

// digitValue is CPython's _PyLong_DigitValue: 0-35, or 37 for a non-digit.
func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 37
}

// intFromString is int(s, base) for a str s (base 0 or 2..36); maxBits
// bounds the result like any other intermediate integer.
func intFromString(s string, base, maxBits int) (any, error) {
	orig := base
	bad := func() error {
		return pyErrf("invalid literal for int() with base %d: %s", orig, truncRunes(pyStrRepr(s), 200))
	}
	t := strings.TrimLeftFunc(asciiDecimal(s), pyIntSpace)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	onlyZero := false
	if base == 0 {
		switch {
		case len(t) < 1 || t[0] != '0':
			base = 10
		case len(t) > 1 && (t[1] == 'x' || t[1] == 'X'):
			base = 16
		case len(t) > 1 && (t[1] == 'o' || t[1] == 'O'):
			base = 8
		case len(t) > 1 && (t[1] == 'b' || t[1] == 'B'):
			base = 2
		default:
			// An old C-style octal literal: only zero is accepted.
			base, onlyZero = 10, true
		}
	}
	if len(t) > 1 && t[0] == '0' {
		p := t[1] | 0x20
		if base == 16 && p == 'x' || base == 8 && p == 'o' || base == 2 && p == 'b' {
			t = t[2:]
			if t != "" && t[0] == '_' {
				t = t[1:]
			}
		}
	}
	if t != "" && t[0] == '_' {
		return nil, bad()
	}
	var ds strings.Builder
	i := 0
	prev := byte(0)
	for i < len(t) && (t[i] == '_' || digitValue(t[i]) < base) {
		if t[i] == '_' {
			if prev == '_' {
				return nil, bad()
			}
		} else {
			ds.WriteByte(t[i])
		}
		prev = t[i]
		i++
	}
	if prev == '_' {
		return nil, bad()
	}
	digits := ds.String()
	if base&(base-1) != 0 && len(digits) > maxLiteralDigits {
		return nil, pyErrf("Exceeds the limit (4300 digits) for integer string conversion: value has %d digits; use sys.set_int_max_str_digits() to increase the limit", len(digits))
	}
	if digits == "" || strings.TrimRightFunc(t[i:], pyIntSpace) != "" {
		return nil, bad()
	}
	v, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, bad()
	}
	if onlyZero && v.Sign() != 0 {
		return nil, bad()
	}
	if v.BitLen() > maxBits {
		return nil, errDigits
	}
	if neg {
		v.Neg(v)
	}
	return v, nil
}

// truncRunes is C's "%.Ns" on a repr: at most n characters.
func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// asciiDecimal is CPython's first step in int() and float() of a str:
// non-ASCII whitespace becomes a space and non-ASCII decimal digits
// (Unicode Nd, '١' is 1) ASCII digits; at any other non-ASCII character
// the text ends in '?', which no grammar accepts.
func asciiDecimal(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case unicode.Is(unicode.Nd, r):
			b.WriteByte(byte('0' + ndValue(r)))
		default:
			b.WriteByte('?')
			return b.String()
		}
	}
	return b.String()
}

// ndValue is the digit value of a Unicode decimal digit: Nd characters
// come in contiguous runs of ten, 0 to 9 (a Unicode stability guarantee),
// so the value is the distance from the start of the run, modulo 10.
func ndValue(r rune) int {
	start := r
	for unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10
}
