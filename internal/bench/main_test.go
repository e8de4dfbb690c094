package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"gatehouse/internal/testmain"
)

// serveEchoEnv makes this test binary the echo child of a test (what
// `gatehouse bench -serve-echo` is for the real harness): startEchoProc
// runs it with that variable inherited, and it serves until stdin closes
// ("old": as a binary from before the connection echo would).
const serveEchoEnv = "GATEHOUSE_TEST_BENCH_SERVE_ECHO"

// Most of these tests wait rather than compute: eight at once.
func TestMain(m *testing.M) {
	switch os.Getenv(serveEchoEnv) {
	case "1":
		if err := ServeEcho(context.Background(), os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "old":
		// An echo child of a binary from before the connection echo:
		// one listener, "ECHO <addr>".
		s, err := StartEcho()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("ECHO %s\n", s.Addr())
		io.Copy(io.Discard, os.Stdin)
		s.Close()
		os.Exit(0)
	}
	testmain.Run(m, 8, false)
}
