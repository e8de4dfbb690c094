package pyexpr

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

type replyVector struct {
	Expr  string  `json:"expr"`
	Reply *string `json:"reply"` // nil: the original sent no reply
}

func loadReplyVectors(t testing.TB, path string) []replyVector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []replyVector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v replyVector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompatProbesMatchCPython: expression text rules (leading newlines
// and tabs, comment lines, backslash continuation, CRLF, NUL), int(x,
// base), keyword arguments and every builtin's arity messages answer
// CPython's reply bytes (testdata/compat_probes.jsonl, 411 rows).
func TestCompatProbesMatchCPython(t *testing.T) {
	vecs := loadReplyVectors(t, "testdata/compat_probes.jsonl")
	if len(vecs) < 400 {
		t.Fatalf("only %d probes", len(vecs))
	}
	for _, v := range vecs {
		if v.Reply == nil {
			continue // the original sent nothing (complex result); see the deviations
		}
		if got := reply(v.Expr, DefaultLimits); got != *v.Reply {
			t.Errorf("%q\n got %s\nwant %s", v.Expr, got, *v.Reply)
		}
	}
}
