package netsvctest

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
)

// echoLines answers each line with "echo <line>" under Conn.Request.
var echoLines = netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		_, done := c.Request(ctx, "ECHO")
		_, err = io.WriteString(c, "echo "+line)
		done("ok")
		if err != nil {
			return err
		}
	}
})

// Feed ends the session once every request is answered, with every answer.
func TestFeedAnswersEverything(t *testing.T) {
	in := strings.Repeat("a line\n", 3000) // more than one Read
	got := Feed(t, echoLines, PipeLimits, []byte(in), 10*time.Second)
	if want := strings.ReplaceAll(in, "a line", "echo a line"); string(got) != want {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
	if got := Feed(t, echoLines, PipeLimits, nil, 10*time.Second); len(got) != 0 {
		t.Fatalf("empty session answered %q", got)
	}
}

// A pipe session runs under the service's deadlines: a silent client is
// cut by the idle timeout.
func TestPipeSessionHasDeadlines(t *testing.T) {
	cut := make(chan string, 1)
	h := netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
		_, err := c.Read(make([]byte, 1))
		cut <- c.CutBy()
		return err
	})
	_, ended := Pipe(t, h, netsvc.Limits{IdleTimeout: 20 * time.Millisecond})
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("silent pipe session not cut")
	}
	if got := <-cut; got != "idle_timeout" {
		t.Fatalf("cut by %q, want idle_timeout", got)
	}
}
