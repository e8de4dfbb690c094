//go:build race

package e2eeftp

// raceEnabled: the race detector makes sync.Pool drop a quarter of its
// Puts at random, so allocation bounds must allow for it.
const raceEnabled = true
