package zmqcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needPython skips with one line when /usr/bin/python3 is missing, except
// under CI=true, where .ci/run installs it and its absence is a failure.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(debianPython); err == nil {
		return
	}
	msg := fmt.Sprintf("CPython comparison needs %s (apt-get install python3)", debianPython)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
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
