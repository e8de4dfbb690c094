package cloudreport

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them.
func TestMain(m *testing.M) {
	widenParallel(8)
	goleak.VerifyTestMain(m)
}
