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
	return parseLine(line, nil)
}

// parseLine is ParseLine appending the tokens to toks[:0], so a session
// reuses one slice for all its requests. The request's strings share one
// copy of the line: one allocation, none when the line is a bare known
// command.
func parseLine(line []byte, toks []string) (Request, bool) {
	line = strip(line)
	if len(line) == 0 {
		return Request{}, false
	}
	end := 0
	for end < len(line) && !isSpace(line[end]) {
		end++
	}
	r := Request{Tokens: toks[:0]}
	if end == len(line) {
		// A bare command (PING, VERS, ...): nothing to copy.
		r.Cmd = upperCmd(line)
		if toks == nil {
			r.Tokens = nil
		}
		return r, true
	}
	s := string(line)
	r.Cmd = upperCmd(line[:end])
	for i := end; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		if j > i {
			r.Tokens = append(r.Tokens, s[i:j])
		}
		i = j
	}
	if toks == nil && len(r.Tokens) == 0 {
		r.Tokens = nil
	}
	r.Rest = stripString(s[end:])
	return r, true
}

// Param returns the value of the last KEY=value token whose key, upper-cased,
// equals key (the seed builds a dict, so the last one wins).
func (r Request) Param(key string) (string, bool) {
	val, found := "", false
	for _, t := range r.Tokens {
		k, v, ok := strings.Cut(t, "=")
		if ok && upperEquals(k, key) {
			val, found = v, true
		}
	}
	return val, found
}

// commands are the command names a request line is compared with; upperCmd
// returns them without allocating.
var commands = [...]string{"INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP"}

// upperCmd is upper(b), without an allocation when b is a known command
// already in upper case.
func upperCmd(b []byte) string {
	for _, c := range commands {
		if string(b) == c {
			return c
		}
	}
	return upper(b)
}

// upperEquals reports whether upper(s) == want, without building upper(s).
func upperEquals(s, want string) bool {
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 32
		case c == 0xdf:
			if j+2 > len(want) || want[j] != 'S' || want[j+1] != 'S' {
				return false
			}
			j += 2
			continue
		case c == 0xb5 || c == 0xff:
			c = '?'
		case c >= 0xe0 && c <= 0xfe && c != 0xf7:
			c -= 32
		}
		if j >= len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}
