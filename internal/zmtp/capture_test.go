package zmtp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// recordConn keeps every byte read from the peer.
type recordConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Write(p[:n])
	return n, err
}

// The libzmq CURVE REQ client of the capture: two compute requests.
const captureClient = `
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 5000)
pub, sec = zmq.curve_keypair()
s.curve_publickey, s.curve_secretkey = pub, sec
s.curve_serverkey = sys.argv[2].encode()
s.connect(sys.argv[1])
for e in ("(6 + 4) * 8", "2**10"):
    s.send_json({"command_type": "compute", "expression": e})
    print(s.recv().decode())
`

// The libzmq CURVE REP server of the client-side capture.
const captureServerPy = `
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.REP)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.curve_server = True
s.curve_secretkey = sys.argv[1].encode()
s.curve_publickey = zmq.curve_public(sys.argv[1].encode())
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode()[len("tcp://"):], flush=True)
for _ in range(2):
    s.recv()
    s.send(b'{"status": "success", "result": "pyzmq"}')
`

// splitCapture cuts a recorded stream into greeting and frames, hex, one
// per line.
func splitCapture(t *testing.T, b []byte) string {
	t.Helper()
	var lines []string
	r := bufio.NewReader(bytes.NewReader(b))
	g := make([]byte, GreetingSize)
	if _, err := io.ReadFull(r, g); err != nil {
		t.Fatal(err)
	}
	lines = append(lines, hex.EncodeToString(g))
	for {
		flags, body, err := readFrame(r, 1<<20, 1<<20, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, hex.EncodeToString(appendFrameHeader(nil, flags, len(body)))+hex.EncodeToString(body))
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestCurveCaptureGenerateServer rewrites testdata/curve_pyzmq_server.hex:
// what a libzmq CURVE REP server sent to our deterministic client
// (captureClient) for two requests.
func TestCurveCaptureGenerateServer(t *testing.T) {
	if os.Getenv("ZMTP_CAPTURE") != "1" {
		t.Skip("set ZMTP_CAPTURE=1 to regenerate the pyzmq capture")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", captureServerPy, captureServerSecret)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	nc, err := net.Dial("tcp", strings.TrimSpace(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &recordConn{Conn: nc}
	c, err := Handshake(rc, captureClientOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.WriteMessage(nil, []byte(`{"command_type": "compute", "expression": "1+1"}`)); err != nil {
			t.Fatal(err)
		}
		if m, err := c.ReadMessage(); err != nil || string(m[1]) != `{"status": "success", "result": "pyzmq"}` {
			t.Fatalf("%q %v", m, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if err := os.WriteFile("testdata/curve_pyzmq_server.hex", []byte(splitCapture(t, rc.got.Bytes())), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCurveCaptureGenerate rewrites testdata/curve_pyzmq_client.hex from a
// real libzmq client (python3-zmq) talking to the deterministic server.
// Run with ZMTP_CAPTURE=1 when the handshake code changes the order in
// which it draws random bytes.
func TestCurveCaptureGenerate(t *testing.T) {
	if os.Getenv("ZMTP_CAPTURE") != "1" {
		t.Skip("set ZMTP_CAPTURE=1 to regenerate the pyzmq capture")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := captureServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", captureClient, "tcp://"+ln.Addr().String(), KeyText(o.Curve.PublicKey))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	rc := &recordConn{Conn: nc}
	c, err := Handshake(rc, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, reply := range []string{`{"status": "success", "result": 80}`, `{"status": "success", "result": 1024}`} {
		msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteMessage(msg[0], []byte(reply)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	nc.Close()
	if !strings.Contains(out.String(), "1024") {
		t.Fatalf("client output %q", out.String())
	}
	if err := os.WriteFile("testdata/curve_pyzmq_client.hex", []byte(splitCapture(t, rc.got.Bytes())), 0o644); err != nil {
		t.Fatal(err)
	}
}
