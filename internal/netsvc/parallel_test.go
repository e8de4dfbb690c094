package netsvc

import (
	"flag"
	"strconv"
)

// widenParallel is called by TestMain. Most of this package's tests wait
// (deadlines, rate windows, peers, child processes) rather than compute:
// unless -parallel is given, n of the t.Parallel tests run at once instead
// of -parallel's default (GOMAXPROCS), so their waits overlap on a small
// machine.
func widenParallel(n int) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
			panic(err)
		}
	}
}
