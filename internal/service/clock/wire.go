package clock

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The group both sides hard-code. 11 has order 64 mod 257, so only 64
// public and shared keys exist (docs/clock.md, "Key exchange and cipher").
const (
	Prime     = 257
	Generator = 11
)

// MaxMessage is the most the original reads at once (recv(1024)); one read
// of at most this many bytes is one message in either direction.
const MaxMessage = 1024

var (
	// ErrBadKey means a public key is not an integer as Python's int() reads it.
	ErrBadKey = errors.New("clock: malformed public key")
	// ErrInvalidUTF8 means a decrypted request is not valid UTF-8; the
	// original dropped the connection, and so do we.
	ErrInvalidUTF8 = errors.New("clock: request is not valid utf-8")
	// ErrWeakKey means the key exchange would end with Caesar shift 0 or 1.
	ErrWeakKey = errors.New("clock: key exchange gives shift 0 or 1")
)

// modPow returns base^exp mod Prime for exp >= 0; base may be any residue.
func modPow(base, exp int) int {
	base = mod(base, Prime)
	r := 1
	for exp > 0 {
		if exp&1 == 1 {
			r = r * base % Prime
		}
		base = base * base % Prime
		exp >>= 1
	}
	return r
}

func mod(a, m int) int {
	a %= m
	if a < 0 {
		a += m
	}
	return a
}

// PublicKey is Generator^priv mod Prime.
func PublicKey(priv int) int { return modPow(Generator, priv) }

// SharedKey is peerPub^priv mod Prime, a value in 0..256. The Caesar shift
// is this value mod 256, without any hashing, exactly as the original.
func SharedKey(peerPub, priv int) int { return modPow(peerPub, priv) }

// Shift is the byte the Caesar cipher adds for shared key k.
func Shift(k int) byte { return byte(mod(k, 256)) }

// IsWeakShift reports whether shared key k shifts by 0 or 1, i.e. leaves the
// traffic (nearly) in plaintext.
func IsWeakShift(k int) bool { return Shift(k) <= 1 }

// IsWeakPeerKey reports whether a peer public key forces a weak shift
// whatever our exponent is: 0 and 1 give K = 0 or 1, and 256 (= -1) gives
// K = ±1, which is shift 1 or 0.
func IsWeakPeerKey(pub int) bool {
	switch mod(pub, Prime) {
	case 0, 1, Prime - 1:
		return true
	}
	return false
}

// Encrypt appends src shifted by +k (mod 256) to dst.
func Encrypt(dst, src []byte, k int) []byte {
	s := Shift(k)
	for _, b := range src {
		dst = append(dst, b+s)
	}
	return dst
}

// Decrypt appends src shifted by -k (mod 256) to dst.
func Decrypt(dst, src []byte, k int) []byte {
	s := Shift(k)
	for _, b := range src {
		dst = append(dst, b-s)
	}
	return dst
}

// FormatKey is a public key on the wire: decimal ASCII, no terminator.
func FormatKey(pub int) []byte { return strconv.AppendInt(nil, int64(pub), 10) }

// ParseKey reads a public key the way the original's int(data.decode())
// does: strict UTF-8, surrounding Unicode whitespace, an optional sign,
// decimal digits of any script, single underscores between digits, leading
// zeros. It returns the value reduced mod Prime (Euclidean), which is all
// the exponentiation needs, so arbitrarily long digit strings cannot
// overflow. Input longer than MaxMessage is refused.
func ParseKey(b []byte) (int, error) {
	if len(b) > MaxMessage {
		return 0, fmt.Errorf("%w: longer than %d bytes", ErrBadKey, MaxMessage)
	}
	if !utf8.Valid(b) {
		return 0, fmt.Errorf("%w: not utf-8", ErrBadKey)
	}
	s := strings.TrimFunc(string(b), isPySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("%w: no digits", ErrBadKey)
	}
	v, prevDigit := 0, false
	for _, r := range s {
		if r == '_' {
			if !prevDigit {
				return 0, fmt.Errorf("%w: misplaced underscore", ErrBadKey)
			}
			prevDigit = false
			continue
		}
		d, ok := digitValue(r)
		if !ok {
			return 0, fmt.Errorf("%w: not a digit %q", ErrBadKey, r)
		}
		v = (v*10 + d) % Prime
		prevDigit = true
	}
	if !prevDigit {
		return 0, fmt.Errorf("%w: trailing underscore", ErrBadKey)
	}
	if neg {
		v = mod(-v, Prime)
	}
	return v, nil
}

// digitValue returns the value of a Unicode decimal digit (category Nd).
// Nd characters come in runs of whole decades starting at a zero, so the
// value is the distance from the start of the run, mod 10.
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	// The longest run (mathematical digits U+1D7CE..U+1D7FF) is 50 long.
	for i := 0; i < 64 && unicode.IsDigit(start-1); i++ {
		start--
	}
	return int(r-start) % 10, true
}

// isPySpace is Python's str.isspace: Go's Unicode White_Space plus the
// four information separators U+001C..U+001F, which Python also strips.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// Command is a decoded request.
type Command uint8

const (
	CmdUnknown Command = iota // anything else: the server stays silent
	CmdTime
	CmdDate
	CmdTemp
)

func (c Command) String() string {
	switch c {
	case CmdTime:
		return "TIME"
	case CmdDate:
		return "DATE"
	case CmdTemp:
		return "TEMP"
	}
	return "UNKNOWN"
}

// ParseCommand decodes one decrypted request as the original does: strict
// UTF-8 (ErrInvalidUTF8 otherwise), strip Unicode whitespace, upper-case,
// exact match. Merged or split requests are simply unknown.
func ParseCommand(plain []byte) (Command, error) {
	if !utf8.Valid(plain) {
		return CmdUnknown, ErrInvalidUTF8
	}
	s := strings.TrimFunc(string(plain), isPySpace)
	// Every command is four letters and no single character upper-cases
	// to more than one of T, I, M, E, D, A, P, so anything that is not four
	// runes cannot match; this also keeps ToUpper's work bounded.
	if utf8.RuneCountInString(s) != 4 {
		return CmdUnknown, nil
	}
	switch strings.ToUpper(s) {
	case "TIME":
		return CmdTime, nil
	case "DATE":
		return CmdDate, nil
	case "TEMP":
		return CmdTemp, nil
	}
	return CmdUnknown, nil
}

// FormatTime is Python's str(datetime.time): HH:MM:SS.ffffff, or HH:MM:SS
// when the microsecond is 0 (8 bytes instead of 15, kept for byte-exactness).
func FormatTime(t time.Time) string {
	s := t.Format("15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s
}

// FormatDate is YYYY-MM-DD.
func FormatDate(t time.Time) string { return t.Format("2006-01-02") }

// FormatTemp is the integer followed by "°C" (UTF-8 C2 B0 43).
func FormatTemp(celsius int) string { return strconv.Itoa(celsius) + "°C" }
