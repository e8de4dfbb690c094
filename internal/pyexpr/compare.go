package pyexpr

// Comparisons: == != < <= > >= is in, chained as Python chains them.

import "strings"

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
