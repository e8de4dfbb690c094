package backup

import (
	"gatehouse/internal/testmain"
	"testing"
)

// TestMain fails the package's tests when a goroutine outlives them.
func TestMain(m *testing.M) {
	testmain.Run(m, 8, true)
}
