package pyexpr

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

type computeVector struct {
	Expr  string `json:"expr"`
	Reply string `json:"reply"`
}

func loadComputeVectors(t testing.TB) []computeVector {
	t.Helper()
	f, err := os.Open("testdata/compute_vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []computeVector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v computeVector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 500 {
		t.Fatalf("only %d vectors", len(out))
	}
	return out
}

// deliberateDeviations are vectors where we answer differently from
// CPython on purpose (docs/zmqcmd.md lists them).
var deliberateDeviations = map[string]string{
	// Complex results: the original sent no reply at all.
	"(-8) ** (1/3)": `{"status": "error", "message": "Complex numbers are not supported"}`,
	"(-4) ** 0.5":   `{"status": "error", "message": "Complex numbers are not supported"}`,
	"(-1) ** 0.5":   `{"status": "error", "message": "Complex numbers are not supported"}`,
}

// TestComputeMatchesCPython compares our reply bytes with CPython 3.11's
// for every vector in testdata (the original's reply vectors, semantics probes and
// generated arithmetic).
func TestComputeMatchesCPython(t *testing.T) {
	bad := 0
	for _, v := range loadComputeVectors(t) {
		want := v.Reply
		if d, ok := deliberateDeviations[v.Expr]; ok {
			want = d
		}
		if got := reply(v.Expr, DefaultLimits); got != want {
			bad++
			t.Errorf("%q\n got %s\nwant %s", v.Expr, reply(v.Expr, DefaultLimits), want)
		}
	}
	if bad > 0 {
		t.Logf("%d mismatches", bad)
	}
}

// TestComputeLimits: every fix for the original's unbounded evaluation
// answers fast with a clear error.
func TestComputeLimits(t *testing.T) {
	cases := map[string]string{
		"9**9**9":             "Exceeds the limit (4300 digits)",
		"1<<10**9":            "Exceeds the limit (4300 digits)",
		"(([0]*100)*100)*100": "Result too large",
		"[[[0]*1000]*1000]":   "Result too large",
		"'a'*10**9":           "Result too large",
		// One shared 4,300-digit int repeated: a 38 MB reply before weights
		// counted integer digits.
		"[10**4299]*9000":      "Result too large",
		"(2**14000,)*9000":     "Result too large",
		"{1: [10**4299]*4000}": "Result too large",
		"[[10**4299]*90]*90":   "Result too large",
		// Python resolves the name; we cannot, and must not answer the
		// escape's text as if it were the string.
		`'\N{BULLET}'`:                  `\N{...} escapes are not supported`,
		`'a' + '\N{EM DASH}'`:           `\N{...} escapes are not supported`,
		"-" + strings.Repeat("-", 1000): "maximum recursion depth exceeded during compilation",
		strings.Repeat("(", 201) + "1" + strings.Repeat(")", 201): "Invalid expression syntax",
		"pow(3, 10**5000, 7)":           "Exceeds the limit (4300 digits)",
		"__import__('os').system('id')": "Invalid variable name in expression",
		"1 @ 2":                         "unsupported operand type(s) for @",
	}
	for expr, want := range cases {
		start := time.Now()
		_, err := Eval(expr, DefaultLimits)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", expr, err, want)
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Errorf("%.40q took %v", expr, d)
		}
	}
	lim := DefaultLimits
	lim.Timeout = time.Nanosecond
	if _, err := Eval("max([1]*9000)", lim); err != errTimeout {
		t.Errorf("deadline not enforced: %v", err)
	}
}
