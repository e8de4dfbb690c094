package pyexpr

// Containers: tuples, lists, dicts and strings built, repeated, merged
// and indexed, and the weight that bounds them.

import (
	"math/big"
	"strings"
	"unicode/utf8"
)

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
