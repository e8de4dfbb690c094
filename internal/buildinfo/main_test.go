package buildinfo

import (
	"testing"

	"gatehouse/internal/testmain"
)

func TestMain(m *testing.M) { testmain.Run(m, 0, false) }
