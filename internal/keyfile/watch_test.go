package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWatchedRereadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "list")
	var warned []string
	w := &Watched[[]string]{Path: path, Max: 64,
		Parse: func(b []byte) ([]string, []string) {
			var ok, bad []string
			for _, l := range strings.Fields(string(b)) {
				if strings.HasPrefix(l, "!") {
					bad = append(bad, l)
					continue
				}
				ok = append(ok, l)
			}
			return ok, bad
		},
		Warn: func(msg string, args ...any) { warned = append(warned, msg) }}
	if got := w.Get(); got != nil {
		t.Fatalf("missing file: %v", got)
	}
	if err := os.WriteFile(path, []byte("a b !c"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := w.Get(); strings.Join(got, ",") != "a,b" || len(warned) != 1 {
		t.Fatalf("first read: %v %v", got, warned)
	}
	w.Get()
	if len(warned) != 1 {
		t.Fatal("bad line warned twice for one version of the file")
	}
	// A change of size is seen at once.
	if err := os.WriteFile(path, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := w.Get(); strings.Join(got, ",") != "a" {
		t.Fatalf("after edit: %v", got)
	}
	// A same-size edit with the same mtime is seen once MaxStale passed.
	st, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte("z"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, st.ModTime(), st.ModTime())
	w.checked = time.Now().Add(-2 * MaxStale)
	if got := w.Get(); strings.Join(got, ",") != "z" {
		t.Fatalf("same-size edit: %v", got)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 65)), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := w.Get(); got != nil {
		t.Fatalf("oversized file: %v", got)
	}
	os.Remove(path)
	if got := w.Get(); got != nil {
		t.Fatalf("removed file: %v", got)
	}
}
