package main

import (
	"slices"
	"testing"

	"gatehouse/internal/services"
)

// The per-service CLI entries name services of the list (keys also has
// the daemon-wide "tls", admin the daemon-wide "keys"), and every service
// has a client.
func TestCommandsNameServicesOfTheList(t *testing.T) {
	names := services.Names()
	for kind, m := range map[string]map[string]command{"keys": keysCmds, "client": clientCmds, "admin": adminCmds} {
		for n := range m {
			if !slices.Contains(names, n) && !(kind == "keys" && n == "tls") && !(kind == "admin" && n == "keys") {
				t.Errorf("%s %s: no such service in the list", kind, n)
			}
		}
	}
	for _, n := range names {
		if _, ok := clientCmds[n]; !ok {
			t.Errorf("service %s has no client command", n)
		}
	}
}
