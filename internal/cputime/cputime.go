// Package cputime reads the process's CPU time (and its resident size) for benchmarks that report
// CPU per operation next to ns/op: on a shared machine the wall time per
// op grows with other tenants' load, the CPU per op much less, so ratios
// between benchmarks of one run read better from it.
package cputime

import (
	"os"
	"strconv"
	"strings"
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

// StatusKiB is one kB field of this process's /proc/self/status, named
// without its colon ("VmHWM", "VmRSS"); 0 where the kernel has none.
func StatusKiB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// ResetPeakRSS sets VmHWM to the current resident size (Linux: "5" to
// /proc/self/clear_refs), so a later StatusKiB("VmHWM") is the peak since.
func ResetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }
