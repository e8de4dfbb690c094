// Package testpeer finds the real peers the tests talk to: Debian's CPython
// (/usr/bin/python3) and its packages (python3-zmq for libzmq,
// python3-cryptography for the original e2eeftp's crypto). A missing peer
// skips the test with one line, except under CI=true, where .ci/run
// installs it and its absence is a failure.
package testpeer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Python is the CPython the originals ran on (Debian's, not a pyenv one:
// their builds differ in details the tests compare).
const Python = "/usr/bin/python3"

// NeedPython requires Python, and with modules the Python modules that
// must import (e.g. "zmq", "cryptography"); apt names the Debian packages
// to suggest.
func NeedPython(t testing.TB, apt string, modules ...string) {
	t.Helper()
	var err error
	var out []byte
	if len(modules) == 0 {
		_, err = os.Stat(Python)
	} else {
		imports := "import " + modules[0]
		for _, m := range modules[1:] {
			imports += ", " + m
		}
		out, err = exec.Command(Python, "-c", imports).CombinedOutput()
	}
	if err == nil {
		return
	}
	msg := fmt.Sprintf("needs %s with %v (apt-get install %s): %v %s", Python, modules, apt, err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
