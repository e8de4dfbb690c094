package e2eeftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/testpeer"
)

const debianPython = testpeer.Python

func needPyCryptography(t *testing.T) {
	t.Helper()
	testpeer.NeedPython(t, "python3-cryptography", "cryptography")
}

// A CPython client doing the stock client's SEND pauses between the
// hellos and the SEND line for longer than handshake_timeout (as the stock
// client does while it reads and encrypts the file), and is served.
func TestInteropCPythonSendAfterPause(t *testing.T) {
	t.Parallel()
	needPyCryptography(t)
	l := netsvctest.DefaultLimits
	l.HandshakeTimeout = 300 * time.Millisecond
	l.IdleTimeout = 10 * time.Second
	f := newFixtureLimits(t, l)
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
