package zmqcmd

import (
	"bytes"
	"context"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testpeer"
)

const debianPython = testpeer.Python

func needPyZMQ(t *testing.T) {
	t.Helper()
	testpeer.NeedPython(t, "python3-zmq", "zmq")
}

func runPeer(t *testing.T, addr, mode string, reqs [][]byte) []string {
	t.Helper()
	var in strings.Builder
	for _, r := range reqs {
		in.WriteString(hex.EncodeToString(r) + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/pyzmq_peer.py", "tcp://"+addr, mode)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyzmq peer %s: %v\n%s", mode, err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(reqs) > 0 && len(lines) != len(reqs) {
		t.Fatalf("pyzmq peer %s: %d replies for %d requests\n%s", mode, len(lines), len(reqs), out)
	}
	return lines
}

// TestInteropPyZMQ runs the reference vectors (docs/zmqcmd.md) through libzmq REQ and DEALER
// sockets and compares the reply bytes.
func TestInteropPyZMQ(t *testing.T) {
	t.Parallel()
	needPyZMQ(t)
	addr := startServer(t, DefaultConfig())
	var reqs [][]byte
	for _, row := range specRows {
		reqs = append(reqs, []byte(row.req))
	}
	for _, mode := range []string{"req", "dealer", "dealer-bare"} {
		t.Run(mode, func(t *testing.T) {
			rows := reqs
			if mode == "dealer-bare" {
				rows = nil // an empty frame is meaningless without an envelope
				for _, r := range reqs {
					if len(r) > 0 {
						rows = append(rows, r)
					}
				}
			}
			lines := runPeer(t, addr, mode, rows)
			// REQ hands over the body only; a DEALER sees the echoed
			// delimiter, unless it sent none.
			wantFrames := map[string]string{"req": "1", "dealer": "2", "dealer-bare": "1"}[mode]
			j := 0
			for _, row := range specRows {
				if mode == "dealer-bare" && row.req == "" {
					continue
				}
				want := wantFrames + " " + hex.EncodeToString([]byte(row.reply))
				if lines[j] != want {
					got, _ := hex.DecodeString(strings.TrimPrefix(lines[j], wantFrames+" "))
					t.Errorf("%s: got %q (%s), want %s", row.name, got, lines[j][:1], row.reply)
				}
				j++
			}
		})
	}
}

// TestInteropOriginalSuite runs the original's test cases (docs/zmqcmd.md,
// "Reference vectors") with
// its client style: a new libzmq context and REQ socket per command.
func TestInteropOriginalSuite(t *testing.T) {
	t.Parallel()
	needPyZMQ(t)
	addr := startServer(t, DefaultConfig())
	lines := runPeer(t, addr, "suite", nil)
	want := []string{"ok test_send_math_command", "ok test_send_os_command", "ok test_process_invalid_command", "ok test_process_math_command",
		"ok test_process_os_command", "ok multipart answered, socket still usable"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("suite output:\n%s", strings.Join(lines, "\n"))
	}
}
