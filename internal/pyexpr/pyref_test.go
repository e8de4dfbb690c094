package pyexpr

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testpeer"
)

func needPython(t *testing.T) {
	t.Helper()
	testpeer.NeedPython(t, "python3")
}

// pythonReplies evaluates every expression in one CPython process
// (testdata/original_reply.py) and returns the original server's reply
// for each; nil where the original sent no reply.
func pythonReplies(t *testing.T, exprs []string) []*string {
	t.Helper()
	var in bytes.Buffer
	for _, e := range exprs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/original_reply.py")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var replies []*string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r *string
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("python output %q: %v", sc.Text(), err)
		}
		replies = append(replies, r)
	}
	if len(replies) != len(exprs) {
		t.Fatalf("python answered %d of %d expressions\n%s", len(replies), len(exprs), strings.TrimSpace(stderr.String()))
	}
	return replies
}

// TestCheckedInVectorsMatchLiveCPython re-asks this machine's CPython for
// the checked-in float-power and compatibility vectors. For the powers it
// compares with the column of the glibc build glibcUsesFMA says this
// machine runs, which checks the build selection itself against the real
// libm (on a CPU without FMA the SSE2 column must match).
func TestCheckedInVectorsMatchLiveCPython(t *testing.T) {
	needPython(t)
	pows := loadPowVectors(t)
	probes := loadReplyVectors(t, "testdata/compat_probes.jsonl")
	var exprs []string
	for _, v := range pows {
		exprs = append(exprs, v.Expr)
	}
	for _, v := range probes {
		exprs = append(exprs, v.Expr)
	}
	live := pythonReplies(t, exprs)
	same := func(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	show := func(p *string) string {
		if p == nil {
			return "(no reply)"
		}
		return *p
	}
	build := "sse2"
	if glibcUsesFMA() {
		build = "fma"
	}
	for i, v := range pows {
		want := v.SSE2
		if build == "fma" {
			want = v.FMA
		}
		if !same(live[i], want) {
			t.Errorf("%s (glibc %s build): live CPython %s, testdata %s", v.Expr, build, show(live[i]), show(want))
		}
	}
	for i, v := range probes {
		if got := live[len(pows)+i]; !same(got, v.Reply) {
			t.Errorf("%q: live CPython %s, testdata %s", v.Expr, show(got), show(v.Reply))
		}
	}
}
