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
