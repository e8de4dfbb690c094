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
	names := services.Names()
	for kind, m := range map[string]map[string]command{"keys": keysCmds, "client": clientCmds, "admin": adminCmds} {
		for n := range m {
			if !slices.Contains(names, n) && !(kind == "keys" && n == "tls") && !(kind == "admin" && n == "keys") {
				t.Errorf("%s %s: no such service in the list", kind, n)
			}
		}
	}
}
