// Package zmqcmd is the ZeroMQ JSON command service that replaces the
// "Client-Server Application using ZeroMQ" server (spec zmqcmd.md): REQ and
// DEALER clients send one-frame JSON requests over ZMTP 3.x (NULL
// mechanism) and get one-frame JSON replies in Python json.dumps style.
//
// "os" requests run only allowlisted commands, without a shell, with a
// timeout and an output cap; "compute" requests are evaluated by our own
// parser (Python arithmetic over math/big), never by eval. Every request
// gets exactly one reply, malformed ones included.
package zmqcmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// Reply messages for requests the original answered with silence (its
// worker thread died); the texts follow spec §7 and the author's own early
// commits ("Invalid JSON format").
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

// DecodeRequest parses one request frame. Any JSON whitespace, key order
// and extra keys are accepted (spec §1.3).
func DecodeRequest(frame []byte) (*Request, error) {
	if !utf8.Valid(frame) {
		return nil, &requestError{msgInvalidJSON}
	}
	trimmed := bytes.TrimSpace(frame)
	if len(trimmed) == 0 || !json.Valid(trimmed) {
		return nil, &requestError{msgInvalidJSON}
	}
	if trimmed[0] != '{' {
		return nil, &requestError{msgNotObject}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return nil, &requestError{msgInvalidJSON}
	}
	return &Request{
		CommandType: m["command_type"],
		CommandName: m["command_name"],
		Parameters:  m["parameters"],
		Expression:  m["expression"],
	}, nil
}

// jsonString returns raw as a Go string when it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
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
	dst = append(dst, `{"status": "success", "result": `...)
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
			items := make([]any, len(v))
			for j, s := range v {
				items[j] = s
			}
			b, _ = appendJSONSeq(b, items)
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

// computeReply evaluates a compute request's expression field.
func computeReply(dst []byte, raw json.RawMessage, lim Limits) (reply []byte, result string, err error) {
	expr, ok := jsonString(raw)
	if !ok {
		return AppendError(dst, msgEvalArg), "", &evalError{msg: msgEvalArg, kind: "runtime"}
	}
	v, err := Evaluate(expr, lim)
	if err != nil {
		return AppendError(dst, errMessage(err)), "", err
	}
	enc, err := appendJSONValue(nil, v)
	if err != nil {
		return AppendError(dst, errMessage(err)), "", err
	}
	return AppendSuccess(dst, enc), string(enc), nil
}

func errMessage(err error) string {
	if e, ok := err.(*evalError); ok {
		return e.msg
	}
	return "Internal error"
}

// shortForLog bounds peer-controlled text before it reaches a log line
// (slog quotes it, so control characters cannot forge lines).
func shortForLog(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + fmt.Sprint(len(s)) + " bytes)"
}

var _ = strings.TrimSpace
