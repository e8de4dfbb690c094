package testmain

import (
	"flag"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(raceAfterTestsEnv) == "1" {
		racyExit()
	}
	Run(m, 3, true)
}

// Run widened -parallel (it was not given on this binary's command line).
func TestParallelWidened(t *testing.T) {
	if got := flag.Lookup("test.parallel").Value.String(); got != "3" {
		t.Fatalf("-parallel is %s, want 3", got)
	}
}
