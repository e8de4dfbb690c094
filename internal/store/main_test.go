package store

import (
	"testing"

	"gatehouse/internal/testmain"
)

// Most of these tests wait rather than compute: eight at once.
func TestMain(m *testing.M) { testmain.Run(m, 8, false) }
