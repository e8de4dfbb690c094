package clock

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testpeer"
)

const debianPython = testpeer.Python

func needPython(t *testing.T) {
	t.Helper()
	testpeer.NeedPython(t, "python3")
}

// CPython runs the original client's wire steps (its int() on the server
// key, its pow, its byte shift and strict decoding) against the default
// configuration, for private keys the original client draws: ordinary ones
// and the weak ones (0, 32, 64, 96 and 992: 0 or 32 mod 64) that give
// shift 0 or 1 and were refused before.
func TestInteropCPythonOriginalClientSteps(t *testing.T) {
	t.Parallel()
	needPython(t)
	now := time.Date(2024, 10, 23, 0, 2, 19, 198109_000, time.Local)
	o := withFixedTemp(defaultConfig(t, nil, now), 6)
	_, addr := start(t, o, defaultLimits())
	_, port, _ := strings.Cut(addr, ":")
	keys := []int{5, 17, 123, 1000, 0, 32, 64, 96, 992}
	args := []string{"testdata/original_client_steps.py", port}
	for _, a := range keys {
		args = append(args, strconv.Itoa(a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(keys) {
		t.Fatalf("%d lines for %d keys:\n%s", len(lines), len(keys), out)
	}
	for i, a := range keys {
		f := strings.Fields(lines[i])
		if len(f) != 5 || f[0] != strconv.Itoa(a) {
			t.Fatalf("line %q", lines[i])
		}
		k, _ := strconv.Atoi(f[1])
		if weak := IsWeakPeerKey(PublicKey(a)); weak != IsWeakShift(k) {
			t.Errorf("a=%d: K=%d, weak shift %v, want %v", a, k, IsWeakShift(k), weak)
		}
		if got := strings.Join(f[2:], " "); got != "00:02:19.198109 2024-10-23 6°C" {
			t.Errorf("a=%d (K=%d): %q", a, k, got)
		}
	}
}
