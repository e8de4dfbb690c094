// Package logtext shapes text for log lines; a leaf every package may import.
package logtext

import (
	"strconv"
	"unicode/utf8"
)

// Peer bounds text a peer controls before it goes into a log line: at
// most n bytes, cut at a rune boundary, with the full length noted. slog
// quotes the value, so control characters cannot forge lines; the bound
// keeps one request from writing megabytes of log. Every service logs
// peer-controlled text (names, arguments, expressions) through it.
func Peer(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
