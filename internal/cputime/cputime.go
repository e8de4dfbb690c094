// Package cputime reads the process's CPU time for benchmarks that report
// CPU per operation next to ns/op: on a shared machine the wall time per
// op grows with other tenants' load, the CPU per op much less, so ratios
// between benchmarks of one run read better from it.
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Process is this process's user + system CPU time so far (0 if the
// kernel will not say).
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Report reports the CPU time since start divided by b.N × per, in
// nanoseconds, as the metric unit ("cpu-ns/op", "cpu-ns/key", …). per
// below 1 counts as 1.
func Report(b *testing.B, start time.Duration, per int64, unit string) {
	if b.N <= 0 {
		return
	}
	b.ReportMetric(float64(Process()-start)/float64(int64(b.N)*max(per, 1)), unit)
}
