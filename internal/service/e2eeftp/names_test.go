package e2eeftp

import (
	"testing"
)

// TestNamePolicy: a name SEND stores is one GET and DELETE can name. The
// original stored " " and "t.txt " (GET and DELETE lines are stripped, so
// neither could be named again) and any bidi override. Trailing white
// space is now removed on every command; names of only white space and
// bidi controls are refused; names real clients use are unchanged.
func TestNamePolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	send := func(name string) string { return f.roundTrip("SEND|"+name+"|64\n", sealed("hello", false)) }

	if got := send("t.txt "); got != StatusTransferComplete {
		t.Fatalf("SEND with a trailing space: %q", got)
	}
	if !f.has("t.txt") || f.has("t.txt ") {
		t.Fatal(`"t.txt " not stored as "t.txt"`)
	}
	if got := f.roundTrip("GET|t.txt \n", nil); got[:7] != "200|64\n" {
		t.Fatalf("GET of the normalised name: %q", got)
	}
	if got := f.roundTrip("LIST\n", nil); got != "200|5\nt.txt" {
		t.Fatalf("LIST: %q", got)
	}
	if got := f.roundTrip("DELETE|t.txt\n", nil); got != StatusFileDeleted {
		t.Fatalf("DELETE: %q", got)
	}

	for _, bad := range []string{" ", "\u3000", "invoice\u202Efdp.exe", "a\u2067b"} {
		if got := send(bad); got != StatusMalformed {
			t.Errorf("SEND %q: %q, want refused", bad, got)
		}
	}
	if got := f.roundTrip("GET|invoice\u202Efdp.exe\n", nil); got != "404|File not found: invoice\u202Efdp.exe\n" {
		t.Errorf("GET of a bidi name: %q", got)
	}
	if got := f.roundTrip("DELETE|invoice\u202Efdp.exe\n", nil); got != StatusNotFound {
		t.Errorf("DELETE of a bidi name: %q", got)
	}

	// What stock clients send: base names with spaces inside or in front,
	// non-ASCII letters, dots.
	for _, ok := range []string{"a b.txt", " lead.txt", "café.txt", "日本語.txt", ".hidden", "x..y"} {
		if got := send(ok); got != StatusTransferComplete {
			t.Errorf("SEND %q: %q", ok, got)
			continue
		}
		if got := f.roundTrip("GET|"+ok+"\n", nil); len(got) < 7 || got[:7] != "200|64\n" {
			t.Errorf("GET %q: %q", ok, got)
		}
	}
}
