//go:build !race

package testmain

import "os"

func exit(code int) { os.Exit(code) }
