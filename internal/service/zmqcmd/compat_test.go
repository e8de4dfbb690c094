package zmqcmd

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
)

// compatRows are issue 12's zmqcmd items over the wire against the default
// configuration: the request bytes the original client (pyzmq send_json,
// json.dumps defaults) sends and the bytes the original server answered,
// taken from CPython 3.11 on glibc 2.36 (for the float powers both glibc
// builds give these bytes).
var compatRows = []struct{ name, req, reply string }{
	// float ** and pow()
	{"cube root", `{"command_type": "compute", "expression": "8**(1/3)"}`, `{"status": "success", "result": 2.0}`},
	{"compound interest", `{"command_type": "compute", "expression": "1000*(1+0.05/365)**(365*30)"}`, `{"status": "success", "result": 4481.228688522581}`},
	{"pow cube root", `{"command_type": "compute", "expression": "pow(1000, 1/3)"}`, `{"status": "success", "result": 9.999999999999998}`},
	{"exponent above 1024", `{"command_type": "compute", "expression": "1.0001**20000"}`, `{"status": "success", "result": 7.388317279514934}`},
	{"negative base", `{"command_type": "compute", "expression": "(-1.5)**-3"}`, `{"status": "success", "result": -0.2962962962962963}`},
	{"subnormal", `{"command_type": "compute", "expression": "0.9**7000"}`, `{"status": "success", "result": 4.985e-321}`},
	{"overflow", `{"command_type": "compute", "expression": "1.5**2000"}`, `{"status": "error", "message": "(34, 'Numerical result out of range')"}`},
	{"underflow", `{"command_type": "compute", "expression": "0.5**1075"}`, `{"status": "success", "result": 0.0}`},
	// expression text
	{"leading newline", `{"command_type": "compute", "expression": "\n1+1"}`, `{"status": "success", "result": 2}`},
	{"leading tab", `{"command_type": "compute", "expression": "\t(6 + 4) * 8"}`, `{"status": "success", "result": 80}`},
	{"comment line", `{"command_type": "compute", "expression": "# compound interest\n1000*(1+0.05/365)**(365*30)\n"}`, `{"status": "success", "result": 4481.228688522581}`},
	{"continuation", `{"command_type": "compute", "expression": "1 +\\\n 1"}`, `{"status": "success", "result": 2}`},
	{"crlf", `{"command_type": "compute", "expression": "\r\n(6 + 4) * 8\r\n"}`, `{"status": "success", "result": 80}`},
	{"indented second line", `{"command_type": "compute", "expression": "\n  1+1"}`, `{"status": "error", "message": "Invalid expression syntax"}`},
	{"second expression", `{"command_type": "compute", "expression": "1+1\n2"}`, `{"status": "error", "message": "Invalid expression syntax"}`},
	{"nul", `{"command_type": "compute", "expression": "1+1\u0000"}`, `{"status": "error", "message": "source code string cannot contain null bytes"}`},
	{"number then keyword", `{"command_type": "compute", "expression": "1if 1 else 2"}`, `{"status": "success", "result": 1}`},
	// int(x, base), keywords, arity
	{"int base 16", `{"command_type": "compute", "expression": "int('ff', 16)"}`, `{"status": "success", "result": 255}`},
	{"int base 0", `{"command_type": "compute", "expression": "int('0b101', 0)"}`, `{"status": "success", "result": 5}`},
	{"int base keyword", `{"command_type": "compute", "expression": "int('10', base=2)"}`, `{"status": "success", "result": 2}`},
	{"int bad literal", `{"command_type": "compute", "expression": "int('12', 2)"}`, `{"status": "error", "message": "invalid literal for int() with base 2: '12'"}`},
	{"int bad base", `{"command_type": "compute", "expression": "int('1', 37)"}`, `{"status": "error", "message": "int() base must be >= 2 and <= 36, or 0"}`},
	{"int non-string", `{"command_type": "compute", "expression": "int(1.5, 10)"}`, `{"status": "error", "message": "int() can't convert non-string with explicit base"}`},
	{"int arity", `{"command_type": "compute", "expression": "int(1, 2, 3)"}`, `{"status": "error", "message": "int() takes at most 2 arguments (3 given)"}`},
	{"abs arity", `{"command_type": "compute", "expression": "abs(1, 2)"}`, `{"status": "error", "message": "abs() takes exactly one argument (2 given)"}`},
	{"pow arity", `{"command_type": "compute", "expression": "pow(1)"}`, `{"status": "error", "message": "pow() missing required argument 'exp' (pos 2)"}`},
	{"round arity", `{"command_type": "compute", "expression": "round()"}`, `{"status": "error", "message": "round() missing required argument 'number' (pos 1)"}`},
	{"float arity", `{"command_type": "compute", "expression": "float(1, 2)"}`, `{"status": "error", "message": "float expected at most 1 argument, got 2"}`},
	{"divmod arity", `{"command_type": "compute", "expression": "divmod(1)"}`, `{"status": "error", "message": "divmod expected 2 arguments, got 1"}`},
	{"max key", `{"command_type": "compute", "expression": "max(-3, 2, key=abs)"}`, `{"status": "success", "result": -3}`},
}

// TestCompatVectorsOverWire replays compatRows against DefaultConfig.
func TestCompatVectorsOverWire(t *testing.T) {
	t.Parallel()
	addr := startServer(t, DefaultConfig())
	c := dial(t, addr)
	for _, row := range compatRows {
		got, err := c.RoundTrip(context.Background(), []byte(row.req))
		if err != nil {
			t.Fatalf("%s: %v", row.name, err)
		}
		if string(got) != row.reply {
			t.Errorf("%s:\n got %s\nwant %s", row.name, got, row.reply)
		}
	}
}

// TestCompatVectorsThroughLibzmq sends compatRows from a real libzmq REQ
// socket (pyzmq), the original client's transport.
func TestCompatVectorsThroughLibzmq(t *testing.T) {
	t.Parallel()
	needPyZMQ(t)
	addr := startServer(t, DefaultConfig())
	var reqs [][]byte
	for _, row := range compatRows {
		reqs = append(reqs, []byte(row.req))
	}
	lines := runPeer(t, addr, "req", reqs)
	for i, row := range compatRows {
		if want := "1 " + hex.EncodeToString([]byte(row.reply)); lines[i] != want {
			got, _ := hex.DecodeString(strings.TrimPrefix(lines[i], "1 "))
			t.Errorf("%s: got %q, want %s", row.name, got, row.reply)
		}
	}
}
