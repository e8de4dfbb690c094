package cloudreport

// Wire format: request lines, split into a command and its tokens.

import (
	"strings"
)

// Request is one parsed request line.
type Request struct {
	Cmd    string   // first token, upper-cased as Python does ("" never: see ParseLine)
	Tokens []string // the other tokens, as sent
	Rest   string   // everything after the command token, stripped
}

// ParseLine parses one request line (its LF already removed). It reports
// false for an empty or whitespace-only line, which closes the connection.
func ParseLine(line []byte) (Request, bool) {
	line = strip(line)
	if len(line) == 0 {
		return Request{}, false
	}
	toks := fields(line)
	r := Request{Cmd: upper(toks[0])}
	for _, t := range toks[1:] {
		r.Tokens = append(r.Tokens, string(t))
	}
	r.Rest = string(strip(line[len(toks[0]):]))
	return r, true
}

// Param returns the value of the last KEY=value token whose key, upper-cased,
// equals key (the seed builds a dict, so the last one wins).
func (r Request) Param(key string) (string, bool) {
	val, found := "", false
	for _, t := range r.Tokens {
		k, v, ok := strings.Cut(t, "=")
		if ok && upper([]byte(k)) == key {
			val, found = v, true
		}
	}
	return val, found
}
