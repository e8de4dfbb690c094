// Package zmqcmd is the ZeroMQ JSON command service that replaces the
// "Client-Server Application using ZeroMQ" server (docs/zmqcmd.md): REQ and
// DEALER clients send one-frame JSON requests over ZMTP 3.x (NULL
// mechanism) and get one-frame JSON replies in Python json.dumps style.
//
// "os" requests run only allowlisted commands, without a shell, with a
// timeout and an output cap; "compute" requests are evaluated by our own
// interpreter, internal/pyexpr (Python arithmetic over math/big; compute.go
// is the glue), never by eval. Every request
// gets exactly one reply, malformed ones included.
package zmqcmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"unicode/utf8"

	"gatehouse/internal/pyexpr"
)

// Reply messages for requests the original answered with silence (its
// worker thread died); the texts are in docs/zmqcmd.md, "Replies where the
// original was silent".
const (
	msgInvalidJSON   = "Invalid JSON format"
	msgNotObject     = "Request must be a JSON object"
	msgInvalidType   = "Invalid command type"
	msgMultipart     = "Multipart requests are not supported"
	msgEvalArg       = "eval() arg 1 must be a string, bytes or code object"
	msgMissingPrefix = "Missing field: "
)

// Request is a decoded request frame. Fields keep their raw JSON so that
// type errors can be answered the way the original did.
type Request struct {
	CommandType json.RawMessage
	CommandName json.RawMessage
	Parameters  json.RawMessage
	Expression  json.RawMessage
}

// requestError is a request that gets an error reply before any work.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// decodeRequest parses one request frame into req: the hand-written fast
// path for the plain request shapes, and encoding/json for everything else.
// Any JSON whitespace, key order and extra keys are accepted
// (docs/zmqcmd.md, "Request shapes"). The fields may share memory with
// frame.
func decodeRequest(req *Request, frame []byte) error {
	if !utf8.Valid(frame) {
		return &requestError{msgInvalidJSON}
	}
	if decodeRequestFast(req, frame) {
		return nil
	}
	*req = Request{}
	return decodeRequestJSON(req, frame)
}

// decodeRequestJSON is the reference decoder (encoding/json); frame is
// valid UTF-8.
func decodeRequestJSON(req *Request, frame []byte) error {
	trimmed := bytes.TrimSpace(frame)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return &requestError{msgInvalidJSON}
	}
	if trimmed[0] != '{' {
		return &requestError{msgNotObject}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return &requestError{msgInvalidJSON}
	}
	*req = Request{
		CommandType: m["command_type"],
		CommandName: m["command_name"],
		Parameters:  m["parameters"],
		Expression:  m["expression"],
	}
	return nil
}

// decodeRequestFast decodes, without allocating, a JSON object whose keys
// are strings without escapes and whose values are strings or arrays of
// strings: every request our client, pyzmq's send_json and the look-alike
// clients send. It reports false on anything else (numbers, nested
// objects, escaped keys, odd whitespace, invalid JSON …), and the caller
// then uses encoding/json, so results never differ (FuzzDecodeRequest
// checks that). As with encoding/json into a map, the last of duplicate
// keys wins. frame must be valid UTF-8.
func decodeRequestFast(req *Request, frame []byte) bool {
	*req = Request{}
	i := skipJSONSpace(frame, 0)
	if i >= len(frame) || frame[i] != '{' {
		return false
	}
	i = skipJSONSpace(frame, i+1)
	if i < len(frame) && frame[i] == '}' {
		return skipJSONSpace(frame, i+1) == len(frame)
	}
	for {
		if i >= len(frame) || frame[i] != '"' {
			return false
		}
		kEnd, escaped := scanJSONString(frame, i)
		if kEnd < 0 || escaped {
			return false
		}
		key := frame[i+1 : kEnd-1]
		i = skipJSONSpace(frame, kEnd)
		if i >= len(frame) || frame[i] != ':' {
			return false
		}
		i = skipJSONSpace(frame, i+1)
		vStart := i
		if i >= len(frame) {
			return false
		}
		switch frame[i] {
		case '"':
			if i, _ = scanJSONString(frame, i); i < 0 {
				return false
			}
		case '[':
			if i = scanStringArray(frame, i); i < 0 {
				return false
			}
		default:
			return false
		}
		val := json.RawMessage(frame[vStart:i:i])
		switch string(key) {
		case "command_type":
			req.CommandType = val
		case "command_name":
			req.CommandName = val
		case "parameters":
			req.Parameters = val
		case "expression":
			req.Expression = val
		}
		i = skipJSONSpace(frame, i)
		if i >= len(frame) {
			return false
		}
		switch frame[i] {
		case ',':
			i = skipJSONSpace(frame, i+1)
		case '}':
			return skipJSONSpace(frame, i+1) == len(frame)
		default:
			return false
		}
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanJSONString checks the JSON string starting at b[i] (a quote) and
// returns the index just past its closing quote, or -1 when it is not a
// valid JSON string, and whether it holds escapes.
func scanJSONString(b []byte, i int) (end int, escaped bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped
		case c < 0x20:
			return -1, false
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return -1, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1, false
					}
				}
				i += 4
			default:
				return -1, false
			}
		}
	}
	return -1, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanStringArray checks the array of strings starting at b[i] ('[') and
// returns the index just past its ']', or -1.
func scanStringArray(b []byte, i int) int {
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		if i, _ = scanJSONString(b, i); i < 0 {
			return -1
		}
		i = skipJSONSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// jsonString returns raw as a Go string when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if end, escaped := scanJSONString(raw, 0); end == len(raw) && !escaped && utf8.Valid(raw) {
		// No escapes and valid UTF-8: the text between the quotes is the
		// string, exactly what json.Unmarshal would give.
		return string(raw[1 : end-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// AppendSuccess appends {"status": "success", "result": <result>}, where
// result is already encoded JSON.
func AppendSuccess(dst, result []byte) []byte {
	dst = append(dst, replySuccessPrefix...)
	dst = append(dst, result...)
	return append(dst, '}')
}

// AppendError appends {"status": "error", "message": <msg>}.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, `{"status": "error", "message": `...)
	dst = appendJSONString(dst, msg)
	return append(dst, '}')
}

// AppendStringResult appends a success reply whose result is a string (the
// os command output).
func AppendStringResult(dst []byte, s string) []byte {
	return AppendSuccess(dst, appendJSONString(nil, s))
}

// EncodeRequest builds a request frame exactly as pyzmq's send_json
// (json.dumps defaults) would, so our client sends the original client's
// bytes.
func EncodeRequest(fields ...[2]any) []byte {
	var b []byte
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, fmt.Sprint(f[0]))
		b = append(b, ": "...)
		switch v := f[1].(type) {
		case string:
			b = appendJSONString(b, v)
		case []string:
			b = append(b, '[')
			for j, s := range v {
				if j > 0 {
					b = append(b, ", "...)
				}
				b = appendJSONString(b, s)
			}
			b = append(b, ']')
		case int:
			b = big.NewInt(int64(v)).Append(b, 10)
		default:
			panic(fmt.Sprintf("zmqcmd: EncodeRequest cannot encode %T", v))
		}
	}
	return append(b, '}')
}

// ComputeRequest is the request frame for a compute command.
func ComputeRequest(expr string) []byte {
	return EncodeRequest([2]any{"command_type", "compute"}, [2]any{"expression", expr})
}

// OSRequest is the request frame for an os command.
func OSRequest(name string, params []string) []byte {
	if params == nil {
		params = []string{}
	}
	return EncodeRequest([2]any{"command_type", "os"}, [2]any{"command_name", name}, [2]any{"parameters", params})
}

// appendJSONString appends s as json.dumps encodes a string.
func appendJSONString(dst []byte, s string) []byte { return pyexpr.AppendJSONString(dst, s) }
