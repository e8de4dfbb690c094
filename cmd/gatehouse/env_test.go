package main

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testEnv returns an env over stdin and the two writers, with an empty
// environment (setEnviron adds to it) and signals sent in process through
// the returned hub.
func testEnv(stdin io.Reader, stdout, stderr io.Writer) (*env, *sigHub) {
	h := &sigHub{subs: map[chan<- os.Signal][]os.Signal{}}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, notify: h.notify, stop: h.stop}
	setEnviron(e)
	return e, h
}

// setEnviron makes "KEY=value" entries e's whole environment.
func setEnviron(e *env, kv ...string) {
	e.environ = func() []string { return slices.Clone(kv) }
	e.getenv = func(key string) string {
		for _, x := range kv {
			if k, v, _ := strings.Cut(x, "="); k == key {
				return v
			}
		}
		return ""
	}
}

// stdinEnv is testEnv without a use for the hub.
func stdinEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	e, _ := testEnv(stdin, stdout, stderr)
	return e
}

// bufEnv is testEnv without stdin and without a use for the hub.
func bufEnv(stdout, stderr io.Writer) *env {
	e, _ := testEnv(nil, stdout, stderr)
	return e
}

// sigHub stands in for os/signal: send delivers a signal to every channel
// registered for it, without blocking, as the runtime does.
type sigHub struct {
	mu   sync.Mutex
	subs map[chan<- os.Signal][]os.Signal
}

func (h *sigHub) notify(c chan<- os.Signal, sig ...os.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[c] = append(h.subs[c], sig...)
}

func (h *sigHub) stop(c chan<- os.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, c)
}

// send delivers s and reports whether any channel was registered for it.
func (h *sigHub) send(s os.Signal) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	sent := false
	for c, sigs := range h.subs {
		if slices.Contains(sigs, s) {
			sent = true
			select {
			case c <- s:
			default:
			}
		}
	}
	return sent
}

// runCmd runs `gatehouse ARGS` in process in dir (the test's working
// directory changes to it) and returns stdout, stderr and whether the exit
// code was 0.
func runCmd(t *testing.T, dir string, args ...string) (string, string, bool) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	code, out, errs := runCode(t, args...)
	return out, errs, code == 0
}

// runCode runs `gatehouse ARGS` in process and returns its exit code,
// stdout and stderr; a command that does not return within 30 s fails the
// test.
func runCode(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, bufEnv(&out, &errb)) }()
	select {
	case code := <-done:
		return code, out.String(), errb.String()
	case <-time.After(30 * time.Second):
		t.Fatalf("%v: timed out\n%s", args, errb.String())
	}
	return 0, "", ""
}

// syncBuffer is a writer that can be read while a command writes to it and
// tells waiters about every write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteString(s string) { b.Write([]byte(s)) }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wait returns once cond holds for the buffer's text, checking after every
// write, and fails the test after d.
func (b *syncBuffer) wait(t *testing.T, d time.Duration, what string, cond func(string) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		text := b.buf.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		if cond(text) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("never saw %s:\n%s", what, text)
		}
	}
}
