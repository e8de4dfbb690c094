package cloudreport

// Wire format: INIT, and the session key both sides derive from it.

import (
	"errors"
	"strconv"
	"strings"
)

// Errors of INIT parsing; the server maps them to the dialect's reply.
var (
	ErrInitFormat = errors.New("cloudreport: invalid INIT command format")
	ErrInitID     = errors.New("cloudreport: invalid client ID")
)

// InitArgs is a parsed INIT request.
type InitArgs struct {
	Text  string // the ID as Python's str(int(…)) prints it: "007" → "7"
	Index int    // the dictionary index 1..10, or 0 when out of range
	HST   string // the HST= parameter (Latin-1 bytes), "" when absent
}

// ParseInit applies the seed's rules: the second token must start with a
// case-sensitive "ID=", and the number is the text between the first and
// the second '=' read with Python's int() (sign, underscores between digits,
// leading zeros; at most 4300 digits).
func ParseInit(r Request) (InitArgs, error) {
	if len(r.Tokens) == 0 || !strings.HasPrefix(r.Tokens[0], "ID=") {
		return InitArgs{}, ErrInitFormat
	}
	num := strings.SplitN(r.Tokens[0], "=", 3)[1]
	text, idx, ok := pyInt(num)
	if !ok {
		return InitArgs{}, ErrInitID
	}
	a := InitArgs{Text: text, Index: idx}
	a.HST, _ = r.Param("HST")
	return a, nil
}

// pyInt reads s like Python's int(s, 10) and returns str() of the value and
// the value itself when it is 1..10 (else 0).
func pyInt(s string) (text string, small int, ok bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return "", 0, false
	}
	digits := make([]byte, 0, len(s))
	prevUnderscore := true // no leading underscore
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			prevUnderscore = false
		case c == '_' && !prevUnderscore:
			prevUnderscore = true
		default:
			return "", 0, false
		}
	}
	if prevUnderscore || len(digits) > maxIntDigits {
		return "", 0, false
	}
	d := strings.TrimLeft(string(digits), "0")
	if d == "" {
		return "0", 0, true
	}
	if neg {
		return "-" + d, 0, true
	}
	if len(d) <= 2 {
		if n, _ := strconv.Atoi(d); n >= 1 && n <= 10 {
			return d, n, true
		}
	}
	return d, 0, true
}

// KeyLen is the LEN the server announces for a dictionary index.
func KeyLen(index int) int {
	if index == 9 {
		return 2
	}
	return 1
}

// SeedKey is the seed's KeyManager.get_key_for_client_id: fixed keys for 5
// and 9 (leftovers of a build that ignored the host), otherwise serverKey +
// the first LEN characters of the dictionary entry (entry 1 when the index
// is out of range) + the host's first two and last characters, with "NE"
// and "-" standing in for a short or empty host.
func SeedKey(serverKey string, index int, host string) string {
	switch index {
	case 5:
		return serverKey + "cNE-"
	case 9:
		return serverKey + "2NE-"
	}
	if index < 1 || index > 10 {
		index = 1
	}
	first, last := "NE", "-"
	if len(host) >= 2 {
		first = host[:2]
	}
	if host != "" {
		last = host[len(host)-1:]
	}
	return serverKey + Dictionary[index-1][:KeyLen(index)] + first + last
}

// DelphiKey is the key as the Delphi client builds it (docs/cloudreport.md,
// "Experimental: the delphi dialect"): KEY, the
// first LEN characters of dictionary entry index, then Copy(host,1,2) and
// Copy(host,Length(host),1). index must be 1..10 and host non-empty.
func DelphiKey(serverKey string, index, keyLen int, host string) string {
	e := Dictionary[index-1]
	keyLen = max(0, min(keyLen, len(e)))
	first := host
	if len(first) > 2 {
		first = first[:2]
	}
	return serverKey + e[:keyLen] + first + host[len(host)-1:]
}
