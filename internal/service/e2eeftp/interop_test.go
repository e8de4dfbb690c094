package e2eeftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
)

const debianPython = "/usr/bin/python3"

// needPyCryptography skips with one line when CPython or its cryptography
// package (the library the original uses) is missing, except under CI=true,
// where .ci/run installs it and its absence is a failure.
func needPyCryptography(t *testing.T) {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import cryptography").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("interop needs %s with python3-cryptography: %v %s", debianPython, err, bytes.TrimSpace(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// A CPython client doing the stock client's SEND pauses between the
// hellos and the SEND line for longer than handshake_timeout (as the stock
// client does while it reads and encrypts the file), and is served.
func TestInteropCPythonSendAfterPause(t *testing.T) {
	needPyCryptography(t)
	l := netsvctest.DefaultLimits
	l.HandshakeTimeout = 300 * time.Millisecond
	l.IdleTimeout = 10 * time.Second
	f := newFixtureLimits(t, Options{}, l)
	_, port, _ := strings.Cut(f.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/original_client_send.py", port,
		hex.EncodeToString(clientSeed), hex.EncodeToString(f.srvID.Public().(ed25519.PublicKey)),
		"1.0", "slow.txt", "encrypted slowly\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(string(out)); got != strings.TrimSpace(StatusTransferComplete) {
		t.Fatalf("status %q, want %q", got, StatusTransferComplete)
	}
	var buf bytes.Buffer
	if _, err := f.client.Get(context.Background(), "slow.txt", &buf); err != nil || buf.String() != "encrypted slowly\n" {
		t.Fatalf("stored %q, %v", buf.String(), err)
	}
}
