package zmqcmd

import (
	"slices"
	"testing"
)

// An allowlisted command whose program is not in command_path is named at
// start; a builtin (echo) never is.
func TestMissingPrograms(t *testing.T) {
	t.Parallel()
	opts := DefaultConfig()
	opts.Allow = []string{"echo", "ping", "date"}
	opts.CommandPath = []string{t.TempDir()} // holds no programs
	s, err := New(opts, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.MissingPrograms(); !slices.Equal(got, []string{"ping", "date"}) {
		t.Fatalf("missing %v, want [ping date]", got)
	}
	opts.CommandPath = []string{"/usr/bin", "/bin"}
	s, err = New(opts, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(s.MissingPrograms(), "date") {
		t.Fatal("date is in /usr/bin or /bin on every Debian machine")
	}
}
