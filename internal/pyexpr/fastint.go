package pyexpr

import "math"

// The common compute request is a short integer expression such as
// "(6 + 4) * 8". evalSmallInt evaluates exactly that subset with int64
// arithmetic and no allocation; anything else — other tokens, overflow,
// division by zero, a result it cannot be sure of — makes it give up, and
// the caller runs the full parser and evaluator, so replies (and errors)
// are always the full path's.
//
// Subset (Python precedence, left-associative binary operators):
//
//	expr   = term {("+" | "-") term}
//	term   = factor {("*" | "//" | "%") factor}
//	factor = ("+" | "-" | "~") factor | atom
//	atom   = decimal integer literal (no leading zero, ≤ 18 digits) | "(" expr ")"
//
// with spaces and tabs between tokens.

// maxFastExpr bounds the source the fast path looks at. It keeps every
// limit of the full parser out of reach: tokens (hence nodes) ≤ 64, and the
// descent's recursion ≤ 64 + 1, far under 4·MaxDepth+100. Nodes and
// nesting are still checked against the configured limits below, since
// those may be set lower than this.
const maxFastExpr = 64

type smallIntParser struct {
	s        string
	i        int
	depth    int
	maxDepth int
}

// evalSmallInt returns the value of src when it is in the subset above and
// every intermediate result fits in an int64; ok is false otherwise.
func evalSmallInt(src string, lim Limits) (v int64, ok bool) {
	if len(src) > maxFastExpr || len(src) > lim.MaxExpression || len(src) > lim.MaxNodes {
		return 0, false
	}
	p := smallIntParser{s: src, maxDepth: lim.MaxDepth}
	v, ok = p.expr()
	if !ok {
		return 0, false
	}
	p.space()
	if p.i != len(p.s) {
		return 0, false
	}
	return v, true
}

func (p *smallIntParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *smallIntParser) expr() (int64, bool) {
	v, ok := p.term()
	if !ok {
		return 0, false
	}
	for {
		p.space()
		if p.i >= len(p.s) {
			return v, true
		}
		op := p.s[p.i]
		if op != '+' && op != '-' {
			return v, true
		}
		p.i++
		w, ok := p.term()
		if !ok {
			return 0, false
		}
		if op == '+' {
			if v, ok = add64(v, w); !ok {
				return 0, false
			}
		} else {
			if w == math.MinInt64 {
				return 0, false
			}
			if v, ok = add64(v, -w); !ok {
				return 0, false
			}
		}
	}
}

func (p *smallIntParser) term() (int64, bool) {
	v, ok := p.factor()
	if !ok {
		return 0, false
	}
	for {
		p.space()
		if p.i >= len(p.s) {
			return v, true
		}
		var op byte
		switch {
		case p.s[p.i] == '*':
			if p.i+1 < len(p.s) && p.s[p.i+1] == '*' {
				return 0, false // power: full path
			}
			op = '*'
			p.i++
		case p.s[p.i] == '%':
			op = '%'
			p.i++
		case p.s[p.i] == '/':
			if p.i+1 >= len(p.s) || p.s[p.i+1] != '/' {
				return 0, false // true division gives a float: full path
			}
			op = '/'
			p.i += 2
		default:
			return v, true
		}
		w, ok := p.factor()
		if !ok {
			return 0, false
		}
		switch op {
		case '*':
			v, ok = mul64(v, w)
		case '/':
			v, ok = floorDiv64(v, w)
		case '%':
			v, ok = floorMod64(v, w)
		}
		if !ok {
			return 0, false
		}
	}
}

func (p *smallIntParser) factor() (int64, bool) {
	p.space()
	if p.i >= len(p.s) {
		return 0, false
	}
	switch c := p.s[p.i]; c {
	case '+', '-', '~':
		p.i++
		v, ok := p.factor()
		if !ok {
			return 0, false
		}
		switch c {
		case '-':
			if v == math.MinInt64 {
				return 0, false
			}
			return -v, true
		case '~':
			return ^v, true
		}
		return v, true
	case '(':
		p.i++
		p.depth++
		if p.depth > p.maxDepth {
			return 0, false
		}
		v, ok := p.expr()
		if !ok {
			return 0, false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return 0, false
		}
		p.i++
		p.depth--
		return v, true
	}
	return p.literal()
}

func (p *smallIntParser) literal() (int64, bool) {
	start := p.i
	var v int64
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		v = v*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	n := p.i - start
	switch {
	case n == 0 || n > 18:
		return 0, false
	case n > 1 && p.s[start] == '0':
		return 0, false // "007" is a syntax error, "00" is 0: full path
	}
	if p.i < len(p.s) {
		// 1.5, 1e3, 1_000, 1j, 0x10, 1if …: anything glued to the digits
		// that is not an operator, a bracket or a blank is the full path's.
		switch p.s[p.i] {
		case ' ', '\t', '+', '-', '*', '/', '%', ')':
		default:
			return 0, false
		}
	}
	return v, true
}

func add64(a, b int64) (int64, bool) {
	s := a + b
	if (s > a) != (b > 0) {
		return 0, false
	}
	return s, true
}

func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	if a == math.MinInt64 || b == math.MinInt64 {
		return 0, false
	}
	p := a * b
	if p/b != a {
		return 0, false
	}
	return p, true
}

// floorDiv64 and floorMod64 round toward negative infinity, as Python's //
// and % on ints do.
func floorDiv64(a, b int64) (int64, bool) {
	if b == 0 || a == math.MinInt64 && b == -1 {
		return 0, false
	}
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q, true
}

func floorMod64(a, b int64) (int64, bool) {
	if b == 0 {
		return 0, false
	}
	if b == -1 {
		return 0, true
	}
	r := a % b
	if r != 0 && ((r < 0) != (b < 0)) {
		r += b
	}
	return r, true
}
