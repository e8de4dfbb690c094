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
