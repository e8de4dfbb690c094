package zmqcmd

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// requestFrames are real request frames (our client, pyzmq's send_json,
// the original's reply vectors) and the odd shapes around them.
var requestFrames = []string{
	string(ComputeRequest("(6 + 4) * 8")),
	string(OSRequest("echo", []string{"Hello, World!"})),
	string(OSRequest("ping", []string{"-c", "1", "127.0.0.1"})),
	string(OSRequest("date", nil)),
	`{"command_type":"compute","expression":"1+1"}`,
	`{"command_type": "compute", "expression": "1+1", "id": 7}`,
	`{"command_type": "os", "command_name": "echo", "parameters": "abc"}`,
	`{"command_type": "os", "command_name": "echo", "parameters": [1]}`,
	`{"command_type": "os", "command_name": "echo"}`,
	`{"command_type": "foo"}`,
	`{"expression": "1+1"}`,
	`{"command_type": "compute", "expression": "'\u00e9' + \"\\n\" \/ \ud800"}`,
	`{"command_type": "compute", "expression": "é"}`,
	"{\"command_type\":\t\"compute\",\r\n \"expression\" : \"2\" }\n",
	`{"command_type": "compute", "expression": "1", "expression": "2"}`,
	`{"command_type": "compute", "command_type": "os"}`,
	`{"command\u005ftype": "compute", "expression": "3"}`,
	`{"command_type": "compute", "expression": 5}`,
	`{"command_type": "compute", "expression": null}`,
	`{"command_type": "compute", "expression": {"a": "b"}}`,
	`{"command_type": "os", "command_name": "echo", "parameters": ["a", "b" , "c"]}`,
	`{"command_type": "os", "command_name": "echo", "parameters": []}`,
	`{"command_type": "os", "command_name": "echo", "parameters": [ ]}`,
	`{"command_type": "os", "command_name": "echo", "parameters": ["a",]}`,
	`{"command_type": "os", "command_name": "echo", "parameters": ["a" "b"]}`,
	`{"command_type": "compute", "expression": "1"`,
	`{"command_type": "compute", "expression": "1"} x`,
	`{"command_type": "compute", "expression": "1"}}`,
	`{"command_type": "compute",}`,
	`{,}`, `{}`, ` {} `, `{"a"}`, `{"a":}`, `{"a" "b"}`, `{"a": "\x"}`, `{"a": "\u12"}`, "{\"a\": \"\x01\"}",
	"\u00a0{\"command_type\": \"compute\", \"expression\": \"1\"}", "\f{}", "\v{}",
	`not json`, ``, `[1, 2]`, `"hello"`, "\xff\xfe", `{"a": "b"}` + "\x00",
}

func checkDecodeSame(t *testing.T, frame []byte) (fast bool) {
	t.Helper()
	var got Request
	gotErr := decodeRequest(&got, frame)
	var want Request
	var wantErr error
	if !utf8.Valid(frame) {
		wantErr = &requestError{msgInvalidJSON}
	} else {
		wantErr = decodeRequestJSON(&want, frame)
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json %v", frame, gotErr, wantErr)
	}
	for _, f := range []struct {
		name      string
		got, want json.RawMessage
	}{
		{"command_type", got.CommandType, want.CommandType},
		{"command_name", got.CommandName, want.CommandName},
		{"parameters", got.Parameters, want.Parameters},
		{"expression", got.Expression, want.Expression},
	} {
		if (f.got == nil) != (f.want == nil) || !bytes.Equal(f.got, f.want) {
			t.Fatalf("%q: %s = %q, encoding/json %q", frame, f.name, f.got, f.want)
		}
		gs, gok := jsonString(f.got)
		var ws string
		wok := len(f.want) > 0 && f.want[0] == '"' && json.Unmarshal(f.want, &ws) == nil
		if gs != ws || gok != wok {
			t.Fatalf("%q: jsonString(%s) = %q %v, encoding/json %q %v", frame, f.name, gs, gok, ws, wok)
		}
	}
	var scratch Request
	return utf8.Valid(frame) && decodeRequestFast(&scratch, frame)
}

// TestDecodeRequestFastPath: the hand-written decoder gives encoding/json's
// result on every frame, and does take the common shapes itself.
func TestDecodeRequestFastPath(t *testing.T) {
	t.Parallel()
	fast := 0
	for _, f := range requestFrames {
		if checkDecodeSame(t, []byte(f)) {
			fast++
		}
	}
	for _, f := range []string{requestFrames[0], requestFrames[1], requestFrames[4], requestFrames[13]} {
		var r Request
		if !decodeRequestFast(&r, []byte(f)) {
			t.Errorf("fast path refused the common frame %q", f)
		}
	}
	if fast < 10 || fast == len(requestFrames) {
		t.Errorf("fast path took %d of %d frames: the table no longer exercises both paths", fast, len(requestFrames))
	}
}

// FuzzDecodeRequest compares the fast decoder with encoding/json on
// arbitrary frames.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkDecodeSame(t, frame)
	})
}
