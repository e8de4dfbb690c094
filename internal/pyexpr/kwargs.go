package pyexpr

// Keyword arguments of the builtins, as CPython 3.11 takes them:
// int('ff', base=16), round(x, ndigits=2), pow(2, 10, mod=1000),
// str(x, encoding=…). keywordArgs turns them into positional arguments;
// functions whose parameters are positional-only refuse keywords with
// CPython's texts.

// kwParams are the parameters that may be given by keyword, in position
// order; "" marks a positional-only one.
var kwParams = map[string][]string{
	"int":   {"", "base"},
	"round": {"number", "ndigits"},
	"pow":   {"base", "exp", "mod"},
	"str":   {"object", "encoding", "errors"},
}

func keywordArgs(name string, args []any, kwn []string) ([]any, error) {
	nkw := 0
	for _, k := range kwn {
		if k != "" {
			nkw++
		}
	}
	if nkw == 0 {
		return args, nil
	}
	params, ok := kwParams[name]
	if !ok {
		return nil, pyErrf("%s() takes no keyword arguments", name)
	}
	if len(args) > len(params) {
		// Too many arguments in all: the builtin's own arity message.
		return args, nil
	}
	npos := len(args) - nkw
	out := make([]any, len(params))
	set := make([]bool, len(params))
	for i := 0; i < npos; i++ {
		out[i], set[i] = args[i], true
	}
	for i, k := range kwn {
		if k == "" {
			continue
		}
		j := -1
		for pi, p := range params {
			if p == k {
				j = pi
			}
		}
		switch {
		case j < 0:
			return nil, pyErrf("'%s' is an invalid keyword argument for %s()", k, name)
		case set[j]:
			return nil, pyErrf("argument for %s() given by name ('%s') and position (%d)", name, k, j+1)
		}
		out[j], set[j] = args[i], true
	}
	// The arguments up to the last one given; a gap is a missing required
	// argument (or, for str's and int's optional ones, CPython's defaults).
	last := -1
	for i := range set {
		if set[i] {
			last = i
		}
	}
	for i := 0; i <= last; i++ {
		if set[i] {
			continue
		}
		switch {
		case name == "pow" && i < 2, name == "round" && i == 0:
			return nil, pyErrf("%s() missing required argument '%s' (pos %d)", name, params[i], i+1)
		case name == "pow" || name == "round":
			out[i] = pyNone{}
		case name == "int" && i == 0:
			return nil, pyErrf("int() missing string argument")
		case name == "str" && i == 1:
			out[i] = "utf-8"
		}
	}
	if name == "str" && !set[0] {
		// No object: the empty string, whatever the encoding.
		return nil, nil
	}
	return out[:last+1], nil
}

// minMaxKw is min()/max() with key= and default= keywords.
func (e *evaluator) minMaxKw(name string, args []any, kwn []string) (any, error) {
	var pos []any
	var key, def any
	for i, k := range kwn {
		switch k {
		case "":
			pos = append(pos, args[i])
		case "key":
			key = args[i]
		case "default":
			def = args[i]
		default:
			if len(pos) == 0 && i == len(pos) && !hasPositional(kwn) {
				return nil, pyErrf("%s expected at least 1 argument, got 0", name)
			}
			return nil, pyErrf("'%s' is an invalid keyword argument for %s()", k, name)
		}
	}
	return e.minMax(name, pos, key, def)
}

func hasPositional(kwn []string) bool {
	for _, k := range kwn {
		if k == "" {
			return true
		}
	}
	return false
}
