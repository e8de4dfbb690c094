package names

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"gatehouse/internal/blob"
)

// Names the original clients send in their recorded transcripts and
// descriptions (docs/backup.md, docs/e2eeftp.md): they must all be accepted unchanged.
var realNames = []string{
	"hello.txt", "t.bin", "z.bin", "u.txt", "b.bin", "missing.txt", "café.txt",
	"notes.txt", "makefile", "client.cpp", "x.txt", "report.pdf", "disk.iso",
	"Michael Jackson.txt", " leading space.txt", "a b  c.txt", "日本語.txt", "Ωmega",
	"emoji-👍🏽.png", "ज़िंदगी.doc", ".bashrc", "..dots..", "name.with.many.dots",
	"\u05d3\u05d5\u05d7 (1)\u200F.txt", "\u062a\u0642\u0631\u064a\u0631\u061C-2.pdf", "a\u200Eb", // RTL names with direction marks
	strings.Repeat("a", MaxLen),
}

func TestRealNamesAccepted(t *testing.T) {
	for _, n := range realNames {
		got, err := Clean(n)
		if err != nil || got != n {
			t.Errorf("Clean(%q) = %q, %v; want it unchanged", n, got, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		want error
	}{
		{"", ErrEmpty},
		{" ", ErrEmpty}, // only white space: nothing left once normalised
		{"\t \u3000", ErrEmpty},
		{strings.Repeat("a", MaxLen+1), ErrTooLong},
		{".", ErrDot},
		{"..", ErrDot},
		{"../x", ErrSeparator},
		{"a/b", ErrSeparator},
		{`a\b`, ErrSeparator},
		{"a\x00b", ErrControl},
		{"a\nb", ErrControl},
		{"a\x7fb", ErrControl},
		{"a\u0085b", ErrControl},
		{"invoice\u202Efdp.exe", ErrBidi},
		{"a\u2066b\u2069", ErrBidi},
		{"a\xffb", ErrEncoding},
		{"\xc3", ErrEncoding},
		{".tmp-x", ErrReserved},
	} {
		if _, err := Clean(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("Clean(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
	// U+FFFD written as such is a character, not an encoding error.
	if err := Check("a\uFFFDb"); err != nil {
		t.Errorf("U+FFFD: %v", err)
	}
}

func TestTrailingSpaceNormalised(t *testing.T) {
	for in, want := range map[string]string{
		"t.txt ":        "t.txt",
		"t.txt\t":       "t.txt",
		"t.txt \u00a0 ": "t.txt",
		" t.txt ":       " t.txt",
	} {
		got, err := Clean(in)
		if err != nil || got != want {
			t.Errorf("Clean(%q) = %q, %v; want %q", in, got, err, want)
		}
		if err := Check(in); err == nil {
			t.Errorf("Check(%q) accepted a name not in normal form", in)
		}
	}
}

// FuzzClean: the policy never panics; what it accepts is in normal form,
// is accepted again as is, and round-trips through the local blob store
// (created, listed under exactly that name, read back, removed).
func FuzzClean(f *testing.F) {
	for _, n := range realNames {
		f.Add(n)
	}
	for _, n := range []string{"", " ", "t.txt ", "../server_id.key", "sub/x.txt", `..\k`, "a\x00", "x\u202Etxt.exe",
		".tmp-1", "\xff", "GET|x", "a\r\n", "\u2066x\u2069", strings.Repeat("é", 200)} {
		f.Add(n)
	}
	root := f.TempDir()
	store, err := blob.OpenLocal(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string) {
		n, err := Clean(name)
		if err != nil {
			if n != "" {
				t.Fatalf("Clean(%q) refused with %v but returned %q", name, err, n)
			}
			return
		}
		if n != Normalize(n) || Check(n) != nil || !utf8.ValidString(n) || len(n) > MaxLen {
			t.Fatalf("Clean(%q) = %q is not a checked normal form", name, n)
		}
		if !strings.HasPrefix(name, n) {
			t.Fatalf("Clean(%q) = %q changed more than the end", name, n)
		}
		full := "f/" + n
		w, err := store.Create(ctx, full)
		if err != nil {
			t.Fatalf("accepted name %q cannot be created: %v", n, err)
		}
		io.WriteString(w, n)
		if err := w.Commit(); err != nil {
			t.Fatalf("accepted name %q cannot be committed: %v", n, err)
		}
		defer store.Remove(ctx, full)
		infos, err := store.List(ctx, "f/")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, in := range infos {
			found = found || in.Name == full
		}
		if !found {
			t.Fatalf("accepted name %q not listed back (%v)", n, infos)
		}
		rc, _, err := store.Open(ctx, full)
		if err != nil {
			t.Fatalf("accepted name %q cannot be opened: %v", n, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, []byte(n)) {
			t.Fatalf("%q read back %q", n, b)
		}
	})
}
