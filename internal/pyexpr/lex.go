package pyexpr

import (
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The expression language is the arithmetic subset of a Python expression
// (docs/zmqcmd.md, "Compatibility"). This file tokenizes it.

type tokKind uint8

const (
	tEOF tokKind = iota
	tInt
	tFloat
	tStr
	tName
	tOp
)

type token struct {
	kind tokKind
	text string   // operator or name
	i    *big.Int // tInt
	f    float64  // tFloat
	s    string   // tStr (decoded)
}

// maxLiteralDigits mirrors Python's int_max_str_digits for source literals.
const maxLiteralDigits = 4300

// ops3, ops2 are the multi-character operators, longest first.
var ops2 = []string{"**", "//", "<<", ">>", "<=", ">=", "==", "!=", "->", ":="}

const ops1 = "+-*/%~&|^<>()[]{},:.=@;"

// errNullBytes is CPython 3.11's ValueError for a source string with NUL
// (raised before compiling, so not "Invalid expression syntax").
var errNullBytes = &Error{"source code string cannot contain null bytes", "runtime"}

// pySourceText prepares src the way eval() does before tokenizing: a NUL
// anywhere is an error, leading spaces and tabs of the string are dropped
// (only those: a later line that starts with a space is an indent), and
// "\r\n" and "\r" become "\n".
func pySourceText(src string) (string, error) {
	if strings.IndexByte(src, 0) >= 0 {
		return "", errNullBytes
	}
	src = strings.TrimLeft(src, " \t")
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return src, nil
}

// lex splits src into tokens with CPython's line structure for eval
// input: blank and comment-only lines are skipped anywhere; a line that
// holds tokens outside brackets must start in column 0 (anything else is
// an unexpected indent); the expression ends with the first such line, and
// after it only blank lines may follow; a backslash at the end of a line
// joins it with the next (at the start of a line the column of the first
// backslash, if not 0, is the line's indent, as CPython counts it);
// newlines inside brackets are free.
func lex(src string) ([]token, error) {
	src, err := pySourceText(src)
	if err != nil {
		return nil, err
	}
	var toks []token
	depth := 0
	i := 0
	atBOL := true
	ended := false // a logical line with tokens is complete (NEWLINE)
	for {
		if atBOL {
			atBOL = false
			col, contCol := 0, 0
		indent:
			for i < len(src) {
				switch src[i] {
				case ' ':
					col++
				case '\t':
					col = (col/8 + 1) * 8
				case '\f':
					col = 0
				case '\\':
					if contCol == 0 {
						contCol = col
					}
					// A continuation needs a newline and something after it.
					if i+1 >= len(src) || src[i+1] != '\n' || i+2 >= len(src) {
						return nil, errSyntax
					}
					i++
				default:
					break indent
				}
				i++
			}
			blank := i < len(src) && (src[i] == '#' || src[i] == '\n')
			if !blank && depth == 0 {
				if contCol != 0 {
					col = contCol
				}
				if col != 0 || ended && i < len(src) {
					return nil, errSyntax
				}
			}
		}
		if i >= len(src) {
			break
		}
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\f':
			i++
			continue
		case c == '\n':
			i++
			if depth == 0 && len(toks) > 0 {
				ended = true
			}
			atBOL = true
			continue
		case c == '\\':
			if i+1 >= len(src) || src[i+1] != '\n' || i+2 >= len(src) {
				return nil, errSyntax
			}
			i += 2
			continue
		case c == '#':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				i = len(src)
			} else {
				i += j
			}
			continue
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			t, n, err := lexNumber(src[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += n
			continue
		case c == '\'' || c == '"':
			s, n, err := lexString(src[i:], false)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tStr, s: s})
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		if r == '_' || unicode.IsLetter(r) {
			j := i + size
			for j < len(src) {
				r2, s2 := utf8.DecodeRuneInString(src[j:])
				if r2 != '_' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					break
				}
				j += s2
			}
			name := src[i:j]
			// String prefixes: only raw strings are supported; bytes and
			// f-strings have no JSON form or would evaluate code.
			if j < len(src) && (src[j] == '\'' || src[j] == '"') {
				if strings.EqualFold(name, "u") {
					// u'' is an ordinary string in Python 3.
					s, n, err := lexString(src[j:], false)
					if err != nil {
						return nil, err
					}
					toks = append(toks, token{kind: tStr, s: s})
					i = j + n
					continue
				}
				if strings.EqualFold(name, "r") {
					s, n, err := lexString(src[j:], true)
					if err != nil {
						return nil, err
					}
					toks = append(toks, token{kind: tStr, s: s})
					i = j + n
					continue
				}
				return nil, errSyntax
			}
			toks = append(toks, token{kind: tName, text: name})
			i = j
			continue
		}
		op := ""
		for _, o := range ops2 {
			if strings.HasPrefix(src[i:], o) {
				op = o
				break
			}
		}
		if op == "" && strings.IndexByte(ops1, c) >= 0 {
			op = src[i : i+1]
		}
		if op == "" {
			return nil, errSyntax
		}
		switch op {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		toks = append(toks, token{kind: tOp, text: op})
		i += len(op)
	}
	return append(toks, token{kind: tEOF}), nil
}

func isDigitIn(c byte, base int) bool {
	switch base {
	case 2:
		return c == '0' || c == '1'
	case 8:
		return c >= '0' && c <= '7'
	case 16:
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return c >= '0' && c <= '9'
}

// digits scans digits of base with single underscores between them. It
// returns the digits without underscores and how many bytes were used.
func digits(s string, base int, leadingUnderscore bool) (string, int, bool) {
	var b strings.Builder
	i := 0
	prevDigit := false
	for i < len(s) {
		c := s[i]
		if c == '_' {
			if !prevDigit && !(leadingUnderscore && i == 0) {
				return "", 0, false
			}
			if i+1 >= len(s) || !isDigitIn(s[i+1], base) {
				return "", 0, false
			}
			prevDigit = false
			i++
			continue
		}
		if !isDigitIn(c, base) {
			break
		}
		b.WriteByte(c)
		prevDigit = true
		i++
	}
	return b.String(), i, true
}

func lexNumber(s string) (token, int, error) {
	if len(s) > 1 && s[0] == '0' && strings.IndexByte("xXoObB", s[1]) >= 0 {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
		d, n, ok := digits(s[2:], base, true)
		if !ok || d == "" {
			return token{}, 0, errSyntax
		}
		end := 2 + n
		if end < len(s) && isNameByte(s[end]) && !keywordAfterNumber(s[end:]) {
			return token{}, 0, errSyntax
		}
		if len(d)*4 > maxLiteralDigits*4 {
			return token{}, 0, errSyntax
		}
		v, ok := new(big.Int).SetString(d, base)
		if !ok {
			return token{}, 0, errSyntax
		}
		return token{kind: tInt, i: v}, end, nil
	}
	intPart, n, ok := digits(s, 10, false)
	if !ok {
		return token{}, 0, errSyntax
	}
	i := n
	isFloat := false
	frac := ""
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			f, m, ok := digits(s[i:], 10, false)
			if !ok {
				return token{}, 0, errSyntax
			}
			frac = f
			i += m
		}
	}
	exp := ""
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		sign := ""
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			sign = s[j : j+1]
			j++
		}
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			e, m, ok := digits(s[j:], 10, false)
			if !ok {
				return token{}, 0, errSyntax
			}
			exp = "e" + sign + e
			i = j + m
			isFloat = true
		}
	}
	if i < len(s) && (s[i] == 'j' || s[i] == 'J') {
		return token{}, 0, errComplex
	}
	if i < len(s) && isNameByte(s[i]) && !keywordAfterNumber(s[i:]) {
		return token{}, 0, errSyntax
	}
	if isFloat {
		text := intPart
		if text == "" {
			text = "0"
		}
		text += "." + frac + "0" + exp
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !isRangeErr(err) {
			return token{}, 0, errSyntax
		}
		return token{kind: tFloat, f: f}, i, nil
	}
	// Python 3 refuses leading zeros in non-zero decimal literals.
	if len(intPart) > 1 && intPart[0] == '0' && strings.Trim(intPart, "0") != "" {
		return token{}, 0, errSyntax
	}
	if len(intPart) > maxLiteralDigits {
		return token{}, 0, errSyntax
	}
	v, _ := new(big.Int).SetString(intPart, 10)
	return token{kind: tInt, i: v}, i, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// lexString decodes a Python string literal (single, double or triple
// quoted) with the common escapes.
func lexString(s string, raw bool) (string, int, error) {
	q := s[:1]
	if strings.HasPrefix(s, q+q+q) {
		q = q + q + q
	}
	i := len(q)
	var b strings.Builder
	for {
		if i >= len(s) {
			return "", 0, errSyntax
		}
		if strings.HasPrefix(s[i:], q) {
			return b.String(), i + len(q), nil
		}
		c := s[i]
		if (c == '\n' || c == '\r') && len(q) == 1 {
			return "", 0, errSyntax
		}
		if c != '\\' {
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
			continue
		}
		if i+1 >= len(s) {
			return "", 0, errSyntax
		}
		if raw {
			b.WriteByte('\\')
			b.WriteByte(s[i+1])
			i += 2
			continue
		}
		e := s[i+1]
		i += 2
		switch e {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i - 1
			k := j
			for k < len(s) && k < j+3 && s[k] >= '0' && s[k] <= '7' {
				k++
			}
			v, _ := strconv.ParseUint(s[j:k], 8, 32)
			b.WriteRune(rune(v))
			i = k
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n > len(s) {
				return "", 0, errSyntax
			}
			v, err := strconv.ParseUint(s[i:i+n], 16, 32)
			if err != nil || v > unicode.MaxRune {
				return "", 0, errSyntax
			}
			b.WriteRune(rune(v))
			i += n
		case 'N':
			// \N{NAME} needs the Unicode name table, which the standard
			// library lacks; keeping the backslash (the unknown-escape rule)
			// would silently answer a different string than Python.
			return "", 0, pyErrf("\\N{...} escapes are not supported")
		default:
			// Unknown escapes keep the backslash (Python, with a warning).
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

// keywordAfterNumber reports whether s, which directly follows a number
// literal, starts like one of the keywords CPython 3.11 still accepts
// there with a deprecation warning ("1if x else y", "1or 2", "0x1for");
// any other letter after a number is a syntax error.
func keywordAfterNumber(s string) bool {
	for _, kw := range [...]string{"and", "else", "for", "if", "in", "is", "or", "not"} {
		if strings.HasPrefix(s, kw) {
			return true
		}
	}
	return false
}
