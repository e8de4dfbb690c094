package main

import (
	"slices"
	"testing"

	"gatehouse/internal/services"
)

// The per-service CLI entries name services of the list (keys also has
// the daemon-wide "tls", admin the daemon-wide "keys"). A service needs
// no CLI entry to be served.
func TestCommandsNameServicesOfTheList(t *testing.T) {
	t.Parallel()
	names := services.Names()
	root := newRoot(bufEnv(nil, nil))
	for _, kind := range []string{"keys", "client", "admin"} {
		g := subcommand(root, kind)
		if g == nil {
			t.Fatalf("no %s command", kind)
		}
		for _, c := range g.Commands() {
			n := c.Name()
			if !slices.Contains(names, n) && !(kind == "keys" && n == "tls") && !(kind == "admin" && n == "keys") {
				t.Errorf("%s %s: no such service in the list", kind, n)
			}
		}
	}
}
