// Package testmain is the TestMain of the project's test binaries: how many
// waiting tests run at once, the goroutine-leak check, and the exit.
package testmain

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// Run runs m's tests and exits with their status. parallel, when > 0, is
// how many t.Parallel tests run at once unless -parallel is given: most of
// this project's tests wait (deadlines, rate windows, peers, child
// processes) rather than compute, so on a small machine their waits
// overlap instead of queueing behind -parallel's default (GOMAXPROCS).
// With leaks set, a run that passed fails if goroutines are left behind
// (goleak, with opts).
func Run(m *testing.M, parallel int, leaks bool, opts ...goleak.Option) {
	widenParallel(parallel)
	code := m.Run()
	if code == 0 && leaks {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	exit(code)
}

func widenParallel(n int) {
	if n <= 0 {
		return
	}
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
}
