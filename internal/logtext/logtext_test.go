package logtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPeer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789…(13 bytes)"},
		{"ééééé", 3, "é…(10 bytes)"}, // never half a rune
		{"abc", 0, "…(3 bytes)"},
		{"abc", -1, "…(3 bytes)"},
	} {
		got := Peer(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("Peer(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Peer(%q, %d) = %q is not valid UTF-8", tc.in, tc.n, got)
		}
	}
	if got := Peer(strings.Repeat("x", 1<<20), 200); len(got) > 200+len("…(1048576 bytes)") {
		t.Errorf("a megabyte came out as %d bytes", len(got))
	}
}
