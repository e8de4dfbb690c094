package cputime

import (
	"testing"
	"time"

	"gatehouse/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m, 0, false) }

// Spinning for 50 ms of wall time shows up as CPU time.
func TestProcessCountsWork(t *testing.T) {
	start := Process()
	x := 0
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	if got := Process() - start; got < 10*time.Millisecond {
		t.Fatalf("50 ms of spinning counted as %v of CPU (x=%d)", got, x)
	}
}

// The resident size is read, and the peak after a reset is at least what
// was touched since.
func TestStatusKiB(t *testing.T) {
	if StatusKiB("VmRSS") <= 0 {
		t.Fatal("VmRSS not read")
	}
	if StatusKiB("NoSuchField") != 0 {
		t.Fatal("a missing field read as non-zero")
	}
	ResetPeakRSS()
	buf := make([]byte, 64<<20)
	for i := range buf {
		if i%4096 == 0 {
			buf[i] = 1
		}
	}
	if got := StatusKiB("VmHWM"); got < 64<<10 {
		t.Fatalf("VmHWM %d KiB after touching 64 MiB", got)
	}
	_ = buf[len(buf)-1]
}
