package zmqcmd

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

func exprSeeds(f *testing.F) []string {
	fh, err := os.Open("testdata/compute_exprs.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "##") {
			out = append(out, l)
		}
	}
	return append(out, "9**9**9", "-"+strings.Repeat("-", 900)+"1", strings.Repeat("[", 300), "'a'*10**9", "1<<10**9",
		"pow(3, 10**4000, 10**4000+1)", "max([1]*10000)", "[10**4299]*9000", "round(1e308, -308)", "((1,)*100)*100")
}

// FuzzEvaluate: the evaluator never panics, never takes long, never returns
// an integer over the digit limit, and every result encodes; float results
// read back through the parser to the same value.
func FuzzEvaluate(f *testing.F) {
	for _, s := range exprSeeds(f) {
		f.Add(s)
	}
	// Line structure, int(x, base), keywords: the CPython probes.
	for _, v := range loadReplyVectors(f, "testdata/compat_probes.jsonl") {
		f.Add(v.Expr)
	}
	lim := DefaultLimits
	f.Fuzz(func(t *testing.T, src string) {
		wd := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("evaluation hangs on %q", src)) })
		defer wd.Stop()
		start := time.Now()
		v, err := Evaluate(src, lim)
		if d := time.Since(start); d > lim.Timeout+2*time.Second {
			t.Fatalf("%q took %v", src, d)
		}
		if err != nil {
			if _, ok := err.(*evalError); !ok {
				t.Fatalf("%q: non-protocol error %T %v", src, err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if err := checkResult(v, 0); err != nil {
			t.Fatalf("%q: result over limits: %v", src, err)
		}
		enc, err := appendJSONValue(nil, v)
		if err != nil {
			if !strings.Contains(err.Error(), "keys must be") && !strings.Contains(err.Error(), "not JSON serializable") {
				t.Fatalf("%q: encode: %v", src, err)
			}
			return
		}
		// A short expression must never buy a huge reply (weights bound it).
		if len(enc) > 1<<20 {
			t.Fatalf("%q: result of %d bytes", src, len(enc))
		}
		if r, err := ParseReply(AppendSuccess(nil, enc)); err != nil || r.Status != "success" {
			t.Fatalf("%q: reply does not parse: %v", src, err)
		}
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return
			}
			back, err := Evaluate(pyFloatRepr(x), lim)
			if err != nil || back.(float64) != x || math.Signbit(back.(float64)) != math.Signbit(x) {
				t.Fatalf("%q: repr %s reads back as %v (%v)", src, pyFloatRepr(x), back, err)
			}
		case *big.Int:
			back, err := Evaluate(x.String(), lim)
			if len(x.String()) <= lim.MaxExpression && (err != nil || back.(*big.Int).Cmp(x) != 0) {
				t.Fatalf("%q: int %s reads back as %v (%v)", src, x, back, err)
			}
		}
	})
}

// FuzzRequest: any request frame gets exactly one well-formed reply.
func FuzzRequest(f *testing.F) {
	for _, row := range specRows {
		f.Add([]byte(row.req))
	}
	f.Add([]byte(`{"command_type": "os", "command_name": "echo", "parameters": {"a": 1}}`))
	f.Add([]byte(`{"command_type": "os", "command_name": 5, "parameters": null}`))
	cfg := DefaultOptions()
	cfg.Allow = []string{"echo"} // no processes while fuzzing
	s, err := New(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	begin := func(string) func(string) { return func(string) {} }
	f.Fuzz(func(t *testing.T, frame []byte) {
		reply := s.handle(context.Background(), begin, log, nil, [][]byte{frame})
		r, err := ParseReply(reply)
		if err != nil {
			t.Fatalf("reply %q: %v", reply, err)
		}
		if r.Status != "success" && (r.Status != "error" || r.Message == "") {
			t.Fatalf("reply %q", reply)
		}
	})
}
