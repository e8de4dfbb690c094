package pyexpr

import "time"

// evaluator walks a parsed tree within its limits, charging the CPU
// budget (cost.go) as it goes.
type evaluator struct {
	lim        Limits
	deadline   time.Time
	now        func() time.Time // the deadline's clock (Limits.Now)
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
		if e.now().After(e.deadline) {
			return errTimeout
		}
	}
	return nil
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
