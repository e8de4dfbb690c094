package cloudreport

import (
	"syscall"
	"testing"
	"time"
)

// cpuClock reads the process's CPU time (user + system), so a benchmark
// can report it per operation next to ns/op: on a shared machine the wall
// time per op grows with other tenants' load, the CPU per op much less.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process CPU per op since start as cpu-ns/op
// (client and server together: both run in this process).
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuClock()-start)/float64(b.N), "cpu-ns/op")
	}
}
