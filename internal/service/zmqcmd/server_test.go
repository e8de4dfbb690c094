package zmqcmd

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/zmtp"
)

func startServer(t testing.TB, cfg Config) string {
	t.Helper()
	s, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	return startServerWith(t, s)
}

// startServerWith serves s on a loopback port.
func startServerWith(t testing.TB, s *Server) string {
	t.Helper()
	_, addr := netsvctest.Start(t, "zmqcmd", s, netsvctest.DefaultLimits)
	return addr
}

func dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakeBin writes an executable shell script called name into dir.
func fakeBin(t testing.TB, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// specRows are the original's replies (docs/zmqcmd.md, "Reference vectors") over the wire: request bytes exactly as
// pyzmq's send_json produced them, and the reply bytes. Where the original
// answered, the bytes are the original's; where it gave no reply, or where
// we deliberately refuse (shell, eval), the comment says why.
var specRows = []struct {
	name, req, reply string
}{
	{"1 readme", `{"command_type": "compute", "expression": "(6 + 4) * 8"}`, `{"status": "success", "result": 80}`},
	{"2 pow", `{"command_type": "compute", "expression": "2**10"}`, `{"status": "success", "result": 1024}`},
	{"3 div0", `{"command_type": "compute", "expression": "10/0"}`, `{"status": "error", "message": "division by zero"}`},
	{"4 10/3", `{"command_type": "compute", "expression": "10/3"}`, `{"status": "success", "result": 3.3333333333333335}`},
	{"5 tuple", `{"command_type": "compute", "expression": "7//2, 7%3"}`, `{"status": "success", "result": [3, 1]}`},
	{"6 sqrt2", `{"command_type": "compute", "expression": "2 ** 0.5"}`, `{"status": "success", "result": 1.4142135623730951}`},
	{"7 neg pow", `{"command_type": "compute", "expression": "-3 ** 2"}`, `{"status": "success", "result": -9}`},
	{"8 name", `{"command_type": "compute", "expression": "invalid_expression"}`, `{"status": "error", "message": "Invalid variable name in expression"}`},
	{"9 syntax", `{"command_type": "compute", "expression": "2 +"}`, `{"status": "error", "message": "Invalid expression syntax"}`},
	{"10 empty", `{"command_type": "compute", "expression": ""}`, `{"status": "error", "message": "Invalid expression syntax"}`},
	{"11 space", `{"command_type": "compute", "expression": " 1+1"}`, `{"status": "success", "result": 2}`},
	{"12 4300 digits", `{"command_type": "compute", "expression": "len(str(10**4299))"}`, `{"status": "success", "result": 4300}`},
	{"13 4301 digits", `{"command_type": "compute", "expression": "10**4300"}`, `{"status": "error", "message": "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit"}`},
	{"14 2**100000", `{"command_type": "compute", "expression": "2**100000"}`, `{"status": "error", "message": "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit"}`},
	// original: no reply, whole server frozen; we refuse before computing.
	{"15 9**9**9", `{"command_type": "compute", "expression": "9**9**9"}`, `{"status": "error", "message": "Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit"}`},
	{"16 inf", `{"command_type": "compute", "expression": "1e308*10"}`, `{"status": "success", "result": Infinity}`},
	{"17 nan", `{"command_type": "compute", "expression": "float('nan')"}`, `{"status": "success", "result": NaN}`},
	// original: no reply (complex not serializable).
	{"18 complex", `{"command_type": "compute", "expression": "1j"}`, `{"status": "error", "message": "Complex numbers are not supported"}`},
	{"19 sqrt", `{"command_type": "compute", "expression": "sqrt(16)"}`, `{"status": "error", "message": "Invalid variable name in expression"}`},
	{"20 round abs", `{"command_type": "compute", "expression": "round(abs(-2.567), 2)"}`, `{"status": "success", "result": 2.57}`},
	{"21 str", `{"command_type": "compute", "expression": "'ab' * 3"}`, `{"status": "success", "result": "ababab"}`},
	{"22 bool", `{"command_type": "compute", "expression": "1 < 2"}`, `{"status": "success", "result": true}`},
	{"23 None", `{"command_type": "compute", "expression": "None"}`, `{"status": "success", "result": null}`},
	// original: no reply / "Linux" / "posix" through eval; we expose no names.
	{"24 import", `{"command_type": "compute", "expression": "__import__(\"os\")"}`, `{"status": "error", "message": "Invalid variable name in expression"}`},
	{"25 import call", `{"command_type": "compute", "expression": "__import__('platform').system()"}`, `{"status": "error", "message": "Invalid variable name in expression"}`},
	{"26 globals", `{"command_type": "compute", "expression": "os.name"}`, `{"status": "error", "message": "Invalid variable name in expression"}`},
	{"27 expr int", `{"command_type": "compute", "expression": 5}`, `{"status": "error", "message": "eval() arg 1 must be a string, bytes or code object"}`},
	// original: no reply.
	{"28 expr missing", `{"command_type": "compute"}`, `{"status": "error", "message": "Missing field: expression"}`},
	{"29 echo", `{"command_type": "os", "command_name": "echo", "parameters": ["Hello, World!"]}`, `{"status": "success", "result": "Hello, World!\n"}`},
	{"29b echo pi", "{\"command_type\": \"os\", \"command_name\": \"echo\", \"parameters\": [\"\u03c0\"]}", `{"status": "success", "result": "\u03c0\n"}`},
	// uname is not on the default allowlist (see TestOSOptionalCommands).
	{"30 uname", `{"command_type": "os", "command_name": "uname", "parameters": ["-s"]}`, `{"status": "error", "message": "Command not allowed: uname"}`},
	{"33 unknown", `{"command_type": "os", "command_name": "nosuchcmd_xyz", "parameters": []}`, `{"status": "error", "message": "Command not allowed: nosuchcmd_xyz"}`},
	{"34 ls", `{"command_type": "os", "command_name": "ls", "parameters": ["/nonexistent_dir_xyz"]}`, `{"status": "error", "message": "Command not allowed: ls"}`},
	{"35 false", `{"command_type": "os", "command_name": "false", "parameters": []}`, `{"status": "error", "message": "Command not allowed: false"}`},
	// original: "a\nINJECTED\n" through the shell; no shell here.
	{"36 injection", `{"command_type": "os", "command_name": "echo", "parameters": ["a;", "echo", "INJECTED"]}`, `{"status": "success", "result": "a; echo INJECTED\n"}`},
	{"37 redirect", `{"command_type": "os", "command_name": "ls", "parameters": ["/nonexistent_dir_xyz", "2>&1"]}`, `{"status": "error", "message": "Command not allowed: ls"}`},
	{"38 params string", `{"command_type": "os", "command_name": "echo", "parameters": "abc"}`, `{"status": "success", "result": "a b c\n"}`},
	{"39 params empty", `{"command_type": "os", "command_name": "echo", "parameters": []}`, `{"status": "success", "result": "\n"}`},
	{"40 params int", `{"command_type": "os", "command_name": "echo", "parameters": [1]}`, `{"status": "error", "message": "sequence item 0: expected str instance, int found"}`},
	// original: no reply; missing parameters count as [] (docs/zmqcmd.md, "Request shapes").
	{"41 params missing", `{"command_type": "os", "command_name": "echo"}`, `{"status": "success", "result": "\n"}`},
	{"42 name missing", `{"command_type": "os", "parameters": ["x"]}`, `{"status": "error", "message": "Missing field: command_name"}`},
	{"43 printf", `{"command_type": "os", "command_name": "printf", "parameters": ["'\\377'"]}`, `{"status": "error", "message": "Command not allowed: printf"}`},
	{"44 sleep", `{"command_type": "os", "command_name": "sleep", "parameters": ["5"]}`, `{"status": "error", "message": "Command not allowed: sleep"}`},
	{"45 type foo", `{"command_type": "foo"}`, `{"status": "error", "message": "Invalid command type"}`},
	{"46 type OS", `{"command_type": "OS", "command_name": "echo", "parameters": ["x"]}`, `{"status": "error", "message": "Invalid command type"}`},
	{"47 type missing", `{"expression": "1+1"}`, `{"status": "error", "message": "Missing field: command_type"}`},
	{"48 extra", `{"command_type": "compute", "expression": "1+1", "id": 7}`, `{"status": "success", "result": 2}`},
	{"49 compact", `{"command_type":"compute","expression":"1+1"}`, `{"status": "success", "result": 2}`},
	{"50 bad json", `not json`, `{"status": "error", "message": "Invalid JSON format"}`},
	{"51 empty", ``, `{"status": "error", "message": "Invalid JSON format"}`},
	{"52 array", `[1, 2]`, `{"status": "error", "message": "Request must be a JSON object"}`},
	{"53 string", `"hello"`, `{"status": "error", "message": "Request must be a JSON object"}`},
	{"54 non-utf8", "\xff\xfe", `{"status": "error", "message": "Invalid JSON format"}`},
	{"trailing newline", `{"command_type": "compute", "expression": "(6+4)*8\n"}`, `{"status": "success", "result": 80}`},
	{"201 parens", `{"command_type": "compute", "expression": "` + strings.Repeat("(", 201) + "1" + strings.Repeat(")", 201) + `"}`, `{"status": "error", "message": "Invalid expression syntax"}`},
	{"100001 terms", `{"command_type": "compute", "expression": "1` + strings.Repeat("+1", 100000) + `"}`, `{"status": "error", "message": "maximum recursion depth exceeded during compilation"}`},
	{"int 5000 digits", `{"command_type": "compute", "expression": "int('1'*5000)"}`, `{"status": "error", "message": "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit"}`},
	{"html", `{"command_type": "compute", "expression": "'<a>&'"}`, `{"status": "success", "result": "<a>&"}`},
	{"e-acute", `{"command_type": "compute", "expression": "'\u00e9'"}`, `{"status": "success", "result": "\u00e9"}`},
	// The original's own test suite translated to the wire (docs/zmqcmd.md, "Reference vectors").
	{"suite math", `{"command_type": "compute", "expression": "(10 + 5) * 4"}`, `{"status": "success", "result": 60}`},
	{"suite math2", `{"command_type": "compute", "expression": "(8 + 2) * 4"}`, `{"status": "success", "result": 40}`},
}

// TestSpecVectorsOverWire sends every reference row (docs/zmqcmd.md,
// "Reference vectors") over one REQ connection
// (the original's destructive rows cannot hurt us: one connection serves
// them all in a row) and compares reply bytes.
func TestSpecVectorsOverWire(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	c := dial(t, addr)
	for _, row := range specRows {
		t.Run(row.name, func(t *testing.T) {
			start := time.Now()
			got, err := c.RoundTrip(context.Background(), []byte(row.req))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != row.reply {
				t.Fatalf("\n got %s\nwant %s", got, row.reply)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	// Health after all of them (the original was dead after row 15).
	r, err := c.Compute(context.Background(), "1+1")
	if err != nil || string(r.Result) != "2" {
		t.Fatalf("health: %v %+v", err, r)
	}
}

// TestGreetingBytesOnWire reads what the server sends on a raw socket: the
// greeting and READY must be the original's bytes (docs/zmqcmd.md,
// "Transport and envelopes").
func TestGreetingBytesOnWire(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	g := make([]byte, 64)
	if _, err := io.ReadFull(nc, g); err != nil {
		t.Fatal(err)
	}
	want := "ff00000000000000017f03014e554c4c" + strings.Repeat("00", 48)
	if hex.EncodeToString(g) != want {
		t.Fatalf("greeting %x", g)
	}
	// READY only follows our greeting.
	greet := zmtp.AppendGreeting(nil)
	greet[11] = 0 // a ZMTP 3.0 peer
	nc.Write(greet)
	ready := make([]byte, 43)
	if _, err := io.ReadFull(nc, ready); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(ready); got != "0429055245414459"+"0b536f636b65742d54797065"+"00000006524f55544552"+"084964656e7469747900000000" {
		t.Fatalf("ready %s", got)
	}
}

// rawPeer is a hand-driven ZMTP peer for envelope tests.
func rawPeer(t *testing.T, addr, socketType string) *zmtp.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	zc, err := zmtp.Handshake(nc, zmtp.Options{SocketType: socketType, Identity: []byte{}})
	if err != nil {
		t.Fatal(err)
	}
	return zc
}

func TestEnvelopes(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	req := []byte(`{"command_type": "compute", "expression": "1+1"}`)
	ok := `{"status": "success", "result": 2}`
	t.Run("dealer with delimiter", func(t *testing.T) {
		zc := rawPeer(t, addr, "DEALER")
		zc.WriteMessage(nil, req)
		msg, err := zc.ReadMessage()
		if err != nil || len(msg) != 2 || len(msg[0]) != 0 || string(msg[1]) != ok {
			t.Fatalf("%q %v", msg, err)
		}
	})
	t.Run("bare dealer", func(t *testing.T) {
		zc := rawPeer(t, addr, "DEALER")
		zc.WriteMessage(req)
		msg, err := zc.ReadMessage()
		if err != nil || len(msg) != 1 || string(msg[0]) != ok {
			t.Fatalf("%q %v", msg, err)
		}
	})
	t.Run("routing frames echoed", func(t *testing.T) {
		zc := rawPeer(t, addr, "DEALER")
		zc.WriteMessage([]byte("hop1"), []byte("hop2"), nil, req)
		msg, err := zc.ReadMessage()
		if err != nil || len(msg) != 4 || string(msg[0]) != "hop1" || string(msg[1]) != "hop2" || string(msg[3]) != ok {
			t.Fatalf("%q %v", msg, err)
		}
	})
	t.Run("multipart then keeps serving", func(t *testing.T) {
		zc := rawPeer(t, addr, "REQ")
		zc.WriteMessage(nil, req, []byte("extra"))
		msg, err := zc.ReadMessage()
		if err != nil || len(msg) != 2 || string(msg[1]) != `{"status": "error", "message": "Multipart requests are not supported"}` {
			t.Fatalf("%q %v", msg, err)
		}
		zc.WriteMessage(nil, req)
		msg, err = zc.ReadMessage()
		if err != nil || string(msg[1]) != ok {
			t.Fatalf("after multipart: %q %v", msg, err)
		}
	})
	t.Run("pub refused", func(t *testing.T) {
		nc, _ := net.Dial("tcp", addr)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := zmtp.Handshake(nc, zmtp.Options{SocketType: "PUB"}); err != nil {
			t.Fatal(err) // our side accepts anything; the server must then close
		}
		if _, err := io.ReadAll(nc); err != nil {
			t.Fatalf("server did not close: %v", err)
		}
	})
}

// TestMalformedNeverKills sends more malformed requests than the original
// had workers (5) and checks the server still answers.
func TestMalformedNeverKills(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	c := dial(t, addr)
	for i := 0; i < 12; i++ {
		got, err := c.RoundTrip(context.Background(), []byte("not json"))
		if err != nil || string(got) != `{"status": "error", "message": "Invalid JSON format"}` {
			t.Fatalf("bad request %d: %s %v", i, got, err)
		}
	}
	r, err := c.Compute(context.Background(), "(6 + 4) * 8")
	if err != nil || string(r.Raw) != `{"status": "success", "result": 80}` {
		t.Fatalf("after malformed: %+v %v", r, err)
	}
}

// TestOversizedFrameClosesOnlyThatConnection: a header claiming 2^40 bytes
// closes that connection without allocating; others are served.
func TestOversizedFrameClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	good := dial(t, addr)
	zc := rawPeer(t, addr, "REQ")
	nc, _ := net.Dial("tcp", addr)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	bad, err := zmtp.Handshake(nc, zmtp.Options{SocketType: "REQ"})
	if err != nil {
		t.Fatal(err)
	}
	_ = bad
	nc.Write([]byte{zmtp.FlagLong, 0, 0, 1, 0, 0, 0, 0, 0, 'x'})
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("server did not close the connection: %v", err)
	}
	if r, err := good.Compute(context.Background(), "2**10"); err != nil || string(r.Result) != "1024" {
		t.Fatalf("other client: %+v %v", r, err)
	}
	zc.WriteMessage(nil, []byte(`{"command_type": "compute", "expression": "1"}`))
	if msg, err := zc.ReadMessage(); err != nil || string(msg[1]) != `{"status": "success", "result": 1}` {
		t.Fatalf("raw client: %q %v", msg, err)
	}
}

// TestSilentPeerDoesNotBlockOthers: a connection that never greets does not
// stop new clients (go-zeromq #131), and is dropped at the handshake
// deadline.
func TestSilentPeerDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	s, _ := New(DefaultConfig(), Env{})
	lim := netsvctest.DefaultLimits
	lim.HandshakeTimeout = 300 * time.Millisecond
	_, addr := netsvctest.Start(t, "zmqcmd", s, lim)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c := dial(t, addr)
	if r, err := c.Compute(context.Background(), "1+1"); err != nil || string(r.Result) != "2" {
		t.Fatalf("%+v %v", r, err)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.Copy(io.Discard, silent) // greeting, then EOF when the server gives up
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent peer kept for %v", d)
	}
}

func osConfig(t *testing.T) (Config, string) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.CommandPath = []string{dir, "/usr/bin", "/bin"}
	return cfg, dir
}

// TestOSPing drives the ping validator against a stand-in binary that
// prints its argv (no real ping here, and none needed to test the argv).
func TestOSPing(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	fakeBin(t, dir, "ping", `echo "ping $*"; echo "to stderr" >&2; exit 1`)
	c := dial(t, startServer(t, cfg))
	cases := []struct {
		params []string
		reply  string
	}{
		{[]string{"-c", "1", "127.0.0.1"}, `{"status": "success", "result": "ping -c 1 127.0.0.1\n"}`},
		{[]string{"127.0.0.1", "-c", "5"}, `{"status": "success", "result": "ping -c 5 127.0.0.1\n"}`},
		{[]string{"127.0.0.1", "-n", "5"}, `{"status": "success", "result": "ping -c 5 127.0.0.1\n"}`},
		{[]string{"127.0.0.1"}, `{"status": "success", "result": "ping -c 4 127.0.0.1\n"}`},
		{[]string{"-c", "1", "no-such-host.invalid"}, `{"status": "success", "result": "ping -c 1 no-such-host.invalid\n"}`},
		{[]string{"-c2", "-i", "0.5", "-W", "2", "-q", "-4", "::1"}, `{"status": "success", "result": "ping -c 2 -i 0.5 -W 2 -4 -q ::1\n"}`},
		{[]string{"-c", "100", "127.0.0.1"}, `{"status": "error", "message": "Option -c must be a whole number from 1 to 10"}`},
		{[]string{"-f", "127.0.0.1"}, `{"status": "error", "message": "Parameter not allowed: -f"}`},
		{[]string{"127.0.0.1;", "id"}, `{"status": "error", "message": "Invalid host: 127.0.0.1;"}`},
		{[]string{"127.0.0.1", "::1"}, `{"status": "error", "message": "Exactly one host is allowed"}`},
		{[]string{"-c", "1"}, `{"status": "error", "message": "A host is required"}`},
		{[]string{"-i", "0.01", "127.0.0.1"}, `{"status": "error", "message": "Option -i must be a number from 0.2 to 10"}`},
		{[]string{"$(id)"}, `{"status": "error", "message": "Invalid host: $(id)"}`},
		// Valid options whose run can only end at the 10 s command timeout
		// are refused up front instead of answering "timed out" 10 s later.
		{[]string{"-c", "10", "-i", "2", "127.0.0.1"}, `{"status": "error", "message": "Options -c 10 and -i 2 run longer than the command timeout of 10s"}`},
		{[]string{"-c", "10", "-i", "1.5", "127.0.0.1"}, `{"status": "error", "message": "Options -c 10 and -i 1.5 run longer than the command timeout of 10s"}`},
		{[]string{"-w", "10", "127.0.0.1"}, `{"status": "error", "message": "Option -w must be shorter than the command timeout of 10s"}`},
		{[]string{"-c", "5", "-i", "2", "-w", "9", "127.0.0.1"}, `{"status": "success", "result": "ping -c 5 -i 2 -w 9 127.0.0.1\n"}`},
		{[]string{"-c", "10", "127.0.0.1"}, `{"status": "success", "result": "ping -c 10 127.0.0.1\n"}`},
	}
	for _, tc := range cases {
		got, err := c.RoundTrip(context.Background(), OSRequest("ping", tc.params))
		if err != nil || string(got) != tc.reply {
			t.Errorf("%q:\n got %s\nwant %s (%v)", tc.params, got, tc.reply, err)
		}
	}
}

func TestOSNotInstalledAndExitCode(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	cfg.CommandPath = []string{dir}
	c := dial(t, startServer(t, cfg))
	got, _ := c.RoundTrip(context.Background(), OSRequest("ping", []string{"-c", "1", "127.0.0.1"}))
	if string(got) != `{"status": "error", "message": "Command not available: ping"}` {
		t.Fatalf("missing binary: %s", got)
	}
	fakeBin(t, dir, "ping", `echo out; exit 3`)
	cfg.FailOnExitCode = true
	c2 := dial(t, startServer(t, cfg))
	got, _ = c2.RoundTrip(context.Background(), OSRequest("ping", []string{"127.0.0.1"}))
	if string(got) != `{"status": "error", "message": "Command failed with exit code 3"}` {
		t.Fatalf("strict exit: %s", got)
	}
	got, _ = c.RoundTrip(context.Background(), OSRequest("ping", []string{"127.0.0.1"}))
	if string(got) != `{"status": "success", "result": "out\n"}` {
		t.Fatalf("compat exit: %s", got)
	}
}

func TestOSTimeoutAndOutputCap(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	cfg.CommandTimeout = 300 * time.Millisecond
	cfg.MaxOutput = 1000
	// The child sleeps in the background with stdout open: killing only the
	// shell would leave the read hanging; the whole group must die.
	fakeBin(t, dir, "ping", `case "$*" in *127.0.0.2*) head -c 100000 /dev/zero | tr '\0' 'x'; printf 'a\r\nb\377';; *) sleep 30 & sleep 30;; esac`)
	c := dial(t, startServer(t, cfg))
	start := time.Now()
	got, err := c.RoundTrip(context.Background(), OSRequest("ping", []string{"-c", "1", "127.0.0.1"}))
	if err != nil || string(got) != `{"status": "error", "message": "Command timed out after 300ms"}` {
		t.Fatalf("timeout: %s %v", got, err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("timeout took %v", d)
	}
	r, err := c.OS(context.Background(), "ping", []string{"-c", "1", "127.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.ResultString()
	if want := strings.Repeat("x", 1000) + truncMarker; out != want {
		t.Fatalf("capped output: %d bytes, ends %q", len(out), out[max(0, len(out)-30):])
	}
}

func TestOutputNormalized(t *testing.T) {
	t.Parallel()
	if got := normalizeOutput("a\r\nb\rc\xffd"); got != "a\nb\nc\uFFFDd" {
		t.Fatalf("%q", got)
	}
}

func TestOSOptionalCommands(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Allow = append(cfg.Allow, "uname", "hostname")
	c := dial(t, startServer(t, cfg))
	got, _ := c.RoundTrip(context.Background(), OSRequest("uname", []string{"-s"}))
	if string(got) != `{"status": "success", "result": "Linux\n"}` {
		t.Fatalf("uname -s (reference row 30): %s", got)
	}
	for _, tc := range []struct {
		name   string
		params []string
		prefix string
	}{
		{"uname", []string{"-s", "--kernel-name"}, `{"status": "success"`},
		{"uname", []string{"-x"}, `{"status": "error", "message": "Parameter not allowed: -x"}`},
		{"hostname", []string{"newname"}, `{"status": "error", "message": "Parameter not allowed: newname"}`},
		{"date", []string{"-u", "+%Y"}, `{"status": "success", "result": "` + time.Now().UTC().Format("2006")},
		{"date", []string{"-s", "2020-01-01"}, `{"status": "error", "message": "Parameter not allowed: -s"}`},
		{"date", []string{"-d", "@0"}, `{"status": "error", "message": "Parameter not allowed: -d"}`},
		{"date", []string{"-Iseconds"}, `{"status": "success"`},
		{"uptime", []string{"-p"}, `{"status": "success", "result": "up`},
		{"uptime", []string{"--help"}, `{"status": "error"`},
		{"echo", []string{"-n", "x"}, `{"status": "success", "result": "x"}`},
	} {
		got, err := c.RoundTrip(context.Background(), OSRequest(tc.name, tc.params))
		if err != nil || !strings.HasPrefix(string(got), tc.prefix) {
			t.Errorf("%s %q: %s %v", tc.name, tc.params, got, err)
		}
	}
	if _, err := New(Config{Allow: []string{"rm"}}, Env{}); err == nil || !strings.Contains(err.Error(), "rm") {
		t.Fatalf("allowlist with unknown command accepted: %v", err)
	}
}

// TestConfigRefusesUnboundedCompute: compute_timeout = 0 would silently
// turn the evaluation deadline off.
func TestConfigRefusesUnboundedCompute(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.ComputeTimeout = 0
	if _, err := New(cfg, Env{}); err == nil || !strings.Contains(err.Error(), "compute_timeout") {
		t.Fatalf("compute_timeout 0 accepted: %v", err)
	}
	cfg.ComputeTimeout = -time.Second
	if _, err := New(cfg, Env{}); err == nil {
		t.Fatal("negative compute_timeout accepted")
	}
}

// TestSlowOSDoesNotDelayCompute: while one client's os command runs for
// seconds, other clients' computes are answered at once (the original's
// round-robin made every fifth request wait; docs/zmqcmd.md, "The
// original's concurrency").
func TestSlowOSDoesNotDelayCompute(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	started := filepath.Join(t.TempDir(), "started")
	fakeBin(t, dir, "ping", `: >'`+started+`'; sleep 2; echo done`)
	addr := startServer(t, cfg)
	slow := dial(t, addr)
	var wg sync.WaitGroup
	wg.Add(1)
	var slowReply []byte
	go func() {
		defer wg.Done()
		slowReply, _ = slow.RoundTrip(context.Background(), OSRequest("ping", []string{"127.0.0.1"}))
	}()
	netsvctest.Eventually(t, "the slow command is running", 5*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	fast := dial(t, addr)
	for i := 0; i < 10; i++ {
		start := time.Now()
		r, err := fast.Compute(context.Background(), "1+1")
		if err != nil || string(r.Result) != "2" {
			t.Fatalf("%+v %v", r, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("compute %d waited %v behind the slow command", i, d)
		}
	}
	wg.Wait()
	if string(slowReply) != `{"status": "success", "result": "done\n"}` {
		t.Fatalf("slow reply %s", slowReply)
	}
}

// TestLogsCommands checks that every command and its result reach the
// service log, with peer text quoted (no forged lines).
func TestLogsCommands(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) })
	srv := netsvc.New(slog.New(slog.NewTextHandler(w, nil)), nil)
	s, _ := New(DefaultConfig(), Env{})
	if err := srv.Listen(netsvc.Service{Name: "zmqcmd", Addr: "127.0.0.1:0", Handler: s, Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	c := dial(t, srv.Addr("zmqcmd").String())
	c.Compute(context.Background(), "(6+4)*8\n")
	c.OS(context.Background(), "echo", []string{"hi"})
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	mu.Lock()
	log := buf.String()
	mu.Unlock()
	for _, want := range []string{`expression="(6+4)*8\n" status=success result=80`, `msg="os command"`, `command=echo args=hi status=success`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "\n = 80") {
		t.Error("log injection: expression newline reached the log raw")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestClientCancel: a cancelled context ends a round trip promptly and
// leaves the client unusable, as a REQ socket would be.
func TestClientCancel(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	fakeBin(t, dir, "ping", `sleep 3`)
	c := dial(t, startServer(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.OS(ctx, "ping", []string{"127.0.0.1"}); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("cancel: %v after %v", err, time.Since(start))
	}
	if _, err := c.Compute(context.Background(), "1"); err == nil {
		t.Fatal("client usable after a lost reply")
	}
}

// TestShutdownFinishesInFlightRequest: when the daemon drains, an os
// command already running still gets its reply, an idle connection is
// closed at once, and Shutdown returns within the drain time.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	started := filepath.Join(t.TempDir(), "started")
	fakeBin(t, dir, "ping", `: >'`+started+`'; sleep 1; echo finished`)
	srv := netsvc.New(slog.New(slog.DiscardHandler), nil)
	s, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(netsvc.Service{Name: "zmqcmd", Addr: "127.0.0.1:0", Handler: s, Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	addr := srv.Addr("zmqcmd").String()
	idle := dial(t, addr)
	if r, err := idle.Compute(context.Background(), "1+1"); err != nil || string(r.Result) != "2" {
		t.Fatalf("%+v %v", r, err)
	}
	busy := dial(t, addr)
	replied := make(chan []byte, 1)
	go func() {
		got, _ := busy.RoundTrip(context.Background(), OSRequest("ping", []string{"-c", "1", "127.0.0.1"}))
		replied <- got
	}()
	netsvctest.Eventually(t, "the command is running", 5*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if got := <-replied; string(got) != `{"status": "success", "result": "finished\n"}` {
		t.Fatalf("in-flight reply: %q", got)
	}
	if _, err := idle.Compute(context.Background(), "1+1"); err == nil {
		t.Fatal("idle connection still served after shutdown")
	}
}

// TestTricklingRequestIsCutAtMessageTimeout: a peer that sends a request
// one byte at a time, each just inside the idle timeout, is closed once the
// request has taken longer than the message timeout.
func TestTricklingRequestIsCutAtMessageTimeout(t *testing.T) {
	t.Parallel()
	s, _ := New(DefaultConfig(), Env{})
	lim := netsvctest.DefaultLimits
	lim.IdleTimeout = time.Second
	lim.MessageTimeout = 300 * time.Millisecond
	_, addr := netsvctest.Start(t, "zmqcmd", s, lim)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := zmtp.Handshake(nc, zmtp.Options{SocketType: "REQ", Identity: []byte{}}); err != nil {
		t.Fatal(err)
	}
	req := zmtp.AppendFrame(zmtp.AppendFrame(nil, zmtp.FlagMore, nil), 0, ComputeRequest("1+1"))
	start := time.Now()
	closed := false
	for _, b := range req {
		if _, err := nc.Write([]byte{b}); err != nil {
			closed = true
			break
		}
		// The trickle is the thing under test, not synchronisation: one
		// byte per 100 ms, bounded by the 3 s below.
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 3*time.Second {
			break
		}
	}
	if !closed {
		nc.SetReadDeadline(time.Now().Add(time.Second))
		_, err := nc.Read(make([]byte, 1))
		var ne net.Error
		closed = err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	if !closed {
		t.Fatalf("trickling peer still connected after %v", time.Since(start))
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Fatalf("trickling peer held the connection for %v", el)
	}
}
