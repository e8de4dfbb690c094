package pyexpr

import "math/big"

// A parsed expression. Parsing is complete before evaluation starts, so a
// syntax error anywhere wins over a runtime error, as with eval().

type nodeKind uint8

const (
	nLit nodeKind = iota
	nName
	nTuple
	nList
	nDict
	nSet
	nUnary
	nBin
	nCmp
	nAnd
	nOr
	nNot
	nIf
	nCall
	nAttr
	nIndex
	nSlice
)

type node struct {
	kind nodeKind
	op   string   // operator, name, attribute
	ops  []string // comparison chain
	lit  any
	args []*node
	kw   bool     // call used star arguments (or keywords, see kwnames)
	kwn  []string // call: keyword of each argument after the callee ("" positional)
}

var keywords = map[string]bool{
	"and": true, "as": true, "assert": true, "async": true, "await": true, "break": true,
	"class": true, "continue": true, "def": true, "del": true, "elif": true, "else": true,
	"except": true, "finally": true, "for": true, "from": true, "global": true, "if": true,
	"import": true, "in": true, "is": true, "lambda": true, "nonlocal": true, "not": true,
	"or": true, "pass": true, "raise": true, "return": true, "try": true, "while": true,
	"with": true, "yield": true, "True": true, "False": true, "None": true,
}

type parser struct {
	toks     []token
	pos      int
	nodes    int
	depth    int // bracket nesting
	rec      int // recursion depth of the descent
	maxNodes int
	maxDepth int
}

// parse turns src into a tree, enforcing the length, node and nesting limits
// before any evaluation work.
func parse(src string, lim Limits) (*node, error) {
	if len(src) > lim.MaxExpression {
		return nil, errTooComplex
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, maxNodes: lim.MaxNodes, maxDepth: lim.MaxDepth}
	if p.peek().kind == tEOF {
		return nil, errSyntax
	}
	n, err := p.exprList(tEOF, "")
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tEOF {
		return nil, errSyntax
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) isOp(s string) bool {
	t := p.toks[p.pos]
	return t.kind == tOp && t.text == s
}

func (p *parser) isName(s string) bool {
	t := p.toks[p.pos]
	return t.kind == tName && t.text == s
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) expect(op string) error {
	if !p.isOp(op) {
		return errSyntax
	}
	p.pos++
	return nil
}

func (p *parser) mk(n *node) (*node, error) {
	p.nodes++
	if p.nodes > p.maxNodes {
		return nil, errTooComplex
	}
	return n, nil
}

// enter guards the recursion of the descent: deep unary chains and the like
// end as Python's compiler does, with a recursion error, never a Go stack
// overflow.
func (p *parser) enter() error {
	p.rec++
	if p.rec > 4*p.maxDepth+100 {
		return errTooComplex
	}
	return nil
}

func (p *parser) leave() { p.rec-- }

// exprList parses "test (',' test)* [',']" up to the closing token; a comma
// makes a tuple.
func (p *parser) exprList(endKind tokKind, endOp string) (*node, error) {
	first, err := p.test()
	if err != nil {
		return nil, err
	}
	if !p.isOp(",") {
		return first, nil
	}
	items := []*node{first}
	for p.isOp(",") {
		p.pos++
		t := p.peek()
		if t.kind == endKind && (endKind != tOp || t.text == endOp) {
			break
		}
		n, err := p.test()
		if err != nil {
			return nil, err
		}
		items = append(items, n)
	}
	return p.mk(&node{kind: nTuple, args: items})
}

func (p *parser) test() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.isName("lambda") {
		return nil, errSyntax
	}
	n, err := p.orTest()
	if err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.pos++
		cond, err := p.orTest()
		if err != nil {
			return nil, err
		}
		if !p.isName("else") {
			return nil, errSyntax
		}
		p.pos++
		alt, err := p.test()
		if err != nil {
			return nil, err
		}
		return p.mk(&node{kind: nIf, args: []*node{cond, n, alt}})
	}
	return n, nil
}

func (p *parser) orTest() (*node, error) {
	n, err := p.andTest()
	if err != nil {
		return nil, err
	}
	for p.isName("or") {
		p.pos++
		r, err := p.andTest()
		if err != nil {
			return nil, err
		}
		if n, err = p.mk(&node{kind: nOr, args: []*node{n, r}}); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (p *parser) andTest() (*node, error) {
	n, err := p.notTest()
	if err != nil {
		return nil, err
	}
	for p.isName("and") {
		p.pos++
		r, err := p.notTest()
		if err != nil {
			return nil, err
		}
		if n, err = p.mk(&node{kind: nAnd, args: []*node{n, r}}); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (p *parser) notTest() (*node, error) {
	if p.isName("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.pos++
		n, err := p.notTest()
		if err != nil {
			return nil, err
		}
		return p.mk(&node{kind: nNot, args: []*node{n}})
	}
	return p.comparison()
}

func (p *parser) compOp() (string, bool) {
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "<", ">", "==", ">=", "<=", "!=":
			p.pos++
			return t.text, true
		}
		return "", false
	}
	if t.kind != tName {
		return "", false
	}
	switch t.text {
	case "in":
		p.pos++
		return "in", true
	case "not":
		if n := p.toks[p.pos+1]; n.kind == tName && n.text == "in" {
			p.pos += 2
			return "not in", true
		}
	case "is":
		p.pos++
		if p.isName("not") {
			p.pos++
			return "is not", true
		}
		return "is", true
	}
	return "", false
}

func (p *parser) comparison() (*node, error) {
	n, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	var ops []string
	args := []*node{n}
	for {
		op, ok := p.compOp()
		if !ok {
			break
		}
		r, err := p.binary(0)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		args = append(args, r)
	}
	if ops == nil {
		return n, nil
	}
	return p.mk(&node{kind: nCmp, ops: ops, args: args})
}

// binLevels are the left-associative binary operators, loosest first.
var binLevels = [][]string{
	{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "//", "%", "@"},
}

func (p *parser) binary(level int) (*node, error) {
	if level == len(binLevels) {
		return p.factor()
	}
	n, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || !contains(binLevels[level], t.text) {
			return n, nil
		}
		p.pos++
		r, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		if n, err = p.mk(&node{kind: nBin, op: t.text, args: []*node{n, r}}); err != nil {
			return nil, err
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// factor: unary + - ~ bind looser than ** on their right: -3**2 == -(3**2).
func (p *parser) factor() (*node, error) {
	if p.isOp("+") || p.isOp("-") || p.isOp("~") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		op := p.next().text
		n, err := p.factor()
		if err != nil {
			return nil, err
		}
		return p.mk(&node{kind: nUnary, op: op, args: []*node{n}})
	}
	return p.power()
}

// power: primary ['**' factor]; right-associative through factor.
func (p *parser) power() (*node, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.isOp("**") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		p.pos++
		r, err := p.factor()
		if err != nil {
			return nil, err
		}
		return p.mk(&node{kind: nBin, op: "**", args: []*node{n, r}})
	}
	return n, nil
}

func (p *parser) open() error {
	p.depth++
	if p.depth > p.maxDepth {
		// CPython: "too many nested parentheses", a SyntaxError.
		return errSyntax
	}
	return nil
}

func (p *parser) primary() (*node, error) {
	n, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("("):
			p.pos++
			if err := p.open(); err != nil {
				return nil, err
			}
			call := &node{kind: nCall, args: []*node{n}}
			for !p.isOp(")") {
				star := false
				if p.isOp("*") || p.isOp("**") {
					p.pos++
					call.kw, star = true, true
				}
				a, err := p.test()
				if err != nil {
					return nil, err
				}
				kw := ""
				if p.isOp("=") && !star {
					if a.kind != nName {
						return nil, errSyntax
					}
					kw = a.op
					// CPython: "keyword argument repeated".
					if contains(call.kwn, kw) {
						return nil, errSyntax
					}
					p.pos++
					if a, err = p.test(); err != nil {
						return nil, err
					}
				} else if !star && len(call.kwn) > 0 && call.kwn[len(call.kwn)-1] != "" {
					// "positional argument follows keyword argument".
					return nil, errSyntax
				}
				call.kwn = append(call.kwn, kw)
				call.args = append(call.args, a)
				if !p.isOp(",") {
					break
				}
				p.pos++
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			p.depth--
			if n, err = p.mk(call); err != nil {
				return nil, err
			}
		case p.isOp("["):
			p.pos++
			if err := p.open(); err != nil {
				return nil, err
			}
			kind := nIndex
			var idx *node
			if p.isOp(":") {
				kind = nSlice
			} else if idx, err = p.exprList(tOp, "]"); err != nil {
				return nil, err
			}
			if p.isOp(":") {
				// Slices are parsed so that eval() order is kept, but not
				// evaluated.
				kind = nSlice
				for !p.isOp("]") {
					if p.peek().kind == tEOF {
						return nil, errSyntax
					}
					p.pos++
				}
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			p.depth--
			args := []*node{n}
			if idx != nil {
				args = append(args, idx)
			}
			if n, err = p.mk(&node{kind: kind, args: args}); err != nil {
				return nil, err
			}
		case p.isOp("."):
			p.pos++
			t := p.next()
			if t.kind != tName || keywords[t.text] {
				return nil, errSyntax
			}
			if n, err = p.mk(&node{kind: nAttr, op: t.text, args: []*node{n}}); err != nil {
				return nil, err
			}
		default:
			return n, nil
		}
	}
}

func (p *parser) atom() (*node, error) {
	t := p.next()
	switch t.kind {
	case tInt:
		return p.mk(&node{kind: nLit, lit: t.i})
	case tFloat:
		return p.mk(&node{kind: nLit, lit: t.f})
	case tStr:
		s := t.s
		// Adjacent literals concatenate: 'it' 's' == 'its'.
		for p.peek().kind == tStr {
			s += p.next().s
			if len(s) > maxStrBytes {
				return nil, errTooComplex
			}
		}
		return p.mk(&node{kind: nLit, lit: s})
	case tName:
		switch t.text {
		case "True":
			return p.mk(&node{kind: nLit, lit: true})
		case "False":
			return p.mk(&node{kind: nLit, lit: false})
		case "None":
			return p.mk(&node{kind: nLit, lit: pyNone{}})
		}
		if keywords[t.text] {
			return nil, errSyntax
		}
		return p.mk(&node{kind: nName, op: t.text})
	case tOp:
		switch t.text {
		case "(":
			if err := p.open(); err != nil {
				return nil, err
			}
			var n *node
			var err error
			if p.isOp(")") {
				n, err = p.mk(&node{kind: nTuple})
			} else {
				n, err = p.exprList(tOp, ")")
			}
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			p.depth--
			return n, nil
		case "[":
			if err := p.open(); err != nil {
				return nil, err
			}
			items, err := p.items("]")
			if err != nil {
				return nil, err
			}
			p.depth--
			return p.mk(&node{kind: nList, args: items})
		case "{":
			if err := p.open(); err != nil {
				return nil, err
			}
			n, err := p.braces()
			if err != nil {
				return nil, err
			}
			p.depth--
			return n, nil
		}
	}
	return nil, errSyntax
}

// items parses "[test (',' test)* [',']] end".
func (p *parser) items(end string) ([]*node, error) {
	var items []*node
	for !p.isOp(end) {
		n, err := p.test()
		if err != nil {
			return nil, err
		}
		items = append(items, n)
		if !p.isOp(",") {
			break
		}
		p.pos++
	}
	return items, p.expect(end)
}

// braces parses a dict display {k: v, …} or a set display {a, …}.
func (p *parser) braces() (*node, error) {
	if p.isOp("}") {
		p.pos++
		return p.mk(&node{kind: nDict})
	}
	first, err := p.test()
	if err != nil {
		return nil, err
	}
	if !p.isOp(":") {
		items := []*node{first}
		for p.isOp(",") {
			p.pos++
			if p.isOp("}") {
				break
			}
			n, err := p.test()
			if err != nil {
				return nil, err
			}
			items = append(items, n)
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		return p.mk(&node{kind: nSet, args: items})
	}
	p.pos++
	v, err := p.test()
	if err != nil {
		return nil, err
	}
	args := []*node{first, v}
	for p.isOp(",") {
		p.pos++
		if p.isOp("}") {
			break
		}
		k, err := p.test()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		v, err := p.test()
		if err != nil {
			return nil, err
		}
		args = append(args, k, v)
	}
	if err := p.expect("}"); err != nil {
		return nil, err
	}
	return p.mk(&node{kind: nDict, args: args})
}

// bigOne and friends are shared read-only constants.
var (
	bigZero = big.NewInt(0)
	bigOne  = big.NewInt(1)
	bigTen  = big.NewInt(10)
)
