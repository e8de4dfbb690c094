package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestBarCountsAndPrintsFinalLine(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "up", 2048)
	b.Write(make([]byte, 1024))
	b.Write(make([]byte, 1024))
	b.Done()
	b.Done()
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "100.0%") || !strings.Contains(out, "2.0 KiB/2.0 KiB") {
		t.Fatalf("unexpected output %q", out)
	}
	if Size(1536) != "1.5 KiB" || Size(10) != "10 B" || Size(3<<30) != "3.0 GiB" {
		t.Fatal("Size formatting")
	}
}

// A total that was an upper bound (an encrypted body's largest plaintext)
// is replaced by the exact count at the end: the bar ends at 100%.
func TestBarSetTotal(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "get", 4096)
	b.Write(make([]byte, 4081))
	b.SetTotal(4081)
	b.Done()
	if out := buf.String(); !strings.Contains(out, "100.0%") || !strings.Contains(out, "4.0 KiB/4.0 KiB") {
		t.Fatalf("unexpected output %q", out)
	}
}
