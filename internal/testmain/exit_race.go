//go:build race

package testmain

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// exit leaves a passing race-built test binary without the race runtime's
// finaliser, which os.Exit(0) runs and which sleeps a second
// (GORACE atexit_sleep_ms) before exiting: a second per package, a third of
// `go test -race ./...`'s wall time on two cores. What the finaliser would
// add is done here: the testing package fails every test during which the
// detector reported a race, and the run itself when one was reported
// outside a test ("race detected outside of test execution"); a race
// reported after the tests (in a goroutine still ending while the leak
// check waits) is counted by runtime.RaceErrors and fails the run like the
// finaliser would, with status 66. A failing run exits through os.Exit.
func exit(code int) {
	if code == 0 && runtime.RaceErrors() > 0 {
		fmt.Fprintln(os.Stderr, "testmain: race detected after the tests ended")
		code = 66
	}
	if code != 0 {
		os.Exit(code)
	}
	syscall.Exit(0)
}
