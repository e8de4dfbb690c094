package logging

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
)

func TestSecretsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	dir := t.TempDir()
	cfg := config.Log{Level: "debug", Format: "json", File: "logs/g.log", MaxSizeMB: 1, Stderr: true}
	log, closer, err := New(cfg, dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("x", "aes_key", "00112233", "v", Secret("topsecret"), "service", "backup")
	closer.Close()
	file, err := os.ReadFile(filepath.Join(dir, "logs/g.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{buf.String(), string(file)} {
		if strings.Contains(out, "00112233") || strings.Contains(out, "topsecret") {
			t.Fatalf("secret in log: %s", out)
		}
		if !strings.Contains(out, `"service":"backup"`) {
			t.Fatalf("attribute missing: %s", out)
		}
	}
}

// countingBuffer counts the Write calls that reach the sink.
type countingBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingBuffer) snapshot() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.writes
}

// A thousand request lines cost a handful of writes, not a thousand; a
// line reaches the sink within FlushInterval without Close; Close writes
// everything that is left.
func TestLogSinkIsBuffered(t *testing.T) {
	var sink countingBuffer
	log, closer, err := New(config.Log{Level: "info", Format: "text"}, t.TempDir(), &sink)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("first")
	deadline := time.Now().Add(20 * FlushInterval)
	for {
		if out, _ := sink.snapshot(); strings.Contains(out, "msg=first") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line did not reach the sink within the flush interval")
		}
		time.Sleep(FlushInterval / 10)
	}
	_, before := sink.snapshot()
	for i := 0; i < 1000; i++ {
		log.Info("request", "command", "PING", "i", i)
	}
	if _, w := sink.snapshot(); w-before > 50 {
		t.Fatalf("%d writes for 1000 lines", w-before)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := sink.snapshot()
	if n := strings.Count(out, "msg=request"); n != 1000 {
		t.Fatalf("%d of 1000 lines written after Close", n)
	}
	if !strings.Contains(out, "i=999") {
		t.Fatal("the last line was lost")
	}
}

func TestJSONDurationsInSeconds(t *testing.T) {
	var sink countingBuffer
	log, closer, err := New(config.Log{Level: "info", Format: "json"}, t.TempDir(), &sink)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("drain", "drain_timeout", 1500*time.Millisecond, "key", "secret-value")
	closer.Close()
	out, _ := sink.snapshot()
	if !strings.Contains(out, `"drain_timeout":1.5`) || strings.Contains(out, "secret-value") {
		t.Fatalf("json line: %s", out)
	}
}

func TestFileCanReplaceStderr(t *testing.T) {
	var stderr countingBuffer
	dir := t.TempDir()
	log, closer, err := New(config.Log{Level: "info", Format: "text", File: "g.log", MaxSizeMB: 1}, dir, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("only in the file")
	closer.Close()
	if out, _ := stderr.snapshot(); out != "" {
		t.Fatalf("stderr got %q with stderr = false", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "g.log")); !strings.Contains(string(b), "only in the file") {
		t.Fatalf("file: %q", b)
	}
}
