//go:build !race

package testmain

// Without the race detector there is no race to report after the tests.
const raceAfterTestsEnv = "GATEHOUSE_TESTMAIN_RACE_AFTER_TESTS"

func racyExit() { exit(0) }
