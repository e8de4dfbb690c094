package pyexpr

// debianPython is the CPython the vectors were taken from (3.11 on
// Debian's glibc 2.36).
const debianPython = "/usr/bin/python3"

// reply is the zmqcmd service's reply to a compute request for src: the
// original server's {"status": ..., "result"|"message": ...} line, which
// the CPython vectors in testdata record.
func reply(src string, lim Limits) string {
	v, err := Eval(src, lim)
	return replyOf(v, err)
}

// replyOf is the reply line for an evaluation's value or error.
func replyOf(v Value, err error) string {
	if err == nil {
		var enc []byte
		if enc, err = AppendJSON(nil, v); err == nil {
			return `{"status": "success", "result": ` + string(enc) + `}`
		}
	}
	return `{"status": "error", "message": ` + string(AppendJSONString(nil, Message(err))) + `}`
}
