//go:build race

package testmain

import (
	"os"
	"syscall"
)

// exit leaves a passing race-built test binary without the race runtime's
// finaliser, which os.Exit(0) runs and which sleeps a second
// (GORACE atexit_sleep_ms) before exiting: a second per package, a third of
// `go test -race ./...`'s wall time on two cores. What the finaliser would
// add is already done: the testing package fails every test during which
// the detector reported a race, and the run itself when one was reported
// outside a test ("race detected outside of test execution"), so a run
// that reaches here with code 0 had none. A failing run exits through
// os.Exit, which skips the finaliser anyway.
func exit(code int) {
	if code != 0 {
		os.Exit(code)
	}
	syscall.Exit(0)
}
