//go:build race

package testmain

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// raceAfterTestsEnv makes this test binary race after its tests and then
// exit as Run does (TestMain).
const raceAfterTestsEnv = "GATEHOUSE_TESTMAIN_RACE_AFTER_TESTS"

// racyExit writes one variable from two goroutines, then exits with the
// passing status: what a goroutine ending during the leak check could do.
func racyExit() {
	var shared int
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shared++
		}()
	}
	wg.Wait()
	exit(0)
}

// A race reported after the tests fails the binary (status 66), though the
// fast exit skips the race runtime's finaliser that would otherwise say so.
func TestRaceAfterTestsFailsTheRun(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), raceAfterTestsEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 66 || !strings.Contains(string(out), "DATA RACE") {
		t.Fatalf("child exited with %v, want status 66 and a race report:\n%s", err, out)
	}
}
