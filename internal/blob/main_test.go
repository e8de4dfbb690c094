package blob

import (
	"testing"

	"gatehouse/internal/testmain"
)

// Most of these tests wait rather than compute: four at once.
func TestMain(m *testing.M) { testmain.Run(m, 4, false) }
