package pyexpr

import (
	"runtime"

	"golang.org/x/sys/cpu"
)

// glibcUsesFMA reports which build of pow glibc's resolver picks on this
// machine: the FMA build when the CPU has FMA and AVX2 usable by the OS
// (glibc also takes an FMA4 build on old AMD CPUs; treated as the FMA
// build here, unverified), the SSE2 build otherwise. On arm64 glibc's pow
// is always built with fused operations (unverified against a real
// arm64 libm).
func glibcUsesFMA() bool {
	switch runtime.GOARCH {
	case "amd64":
		return cpu.X86.HasFMA && cpu.X86.HasAVX2
	case "arm64":
		return true
	}
	return false
}

// glibcPow is the pow the original's CPython got from the C library on a
// machine like this one.
var glibcPow = func() func(x, y float64) float64 {
	if glibcUsesFMA() {
		return powFused
	}
	return powPlain
}()
