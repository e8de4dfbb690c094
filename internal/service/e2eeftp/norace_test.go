//go:build !race

package e2eeftp

const raceEnabled = false
