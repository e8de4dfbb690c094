// Package names is the one file-name policy the services share: which
// names a client may store, and the form they are stored and looked up
// under. The same rule runs on write (SEND, 1028) and on read (GET, DELETE,
// 1029–1031), so a name that was stored can always be named again.
//
// A name is one path component of at most MaxLen bytes of valid UTF-8. It
// is refused when it is empty, "." or "..", holds a path separator ('/' or
// '\\'), a control character (C0, DEL, C1), or a bidirectional override,
// embedding, isolate or mark (they make a name display as something else:
// "txt.exe" shown as "exe.txt"), or starts with the blob store's reserved
// ".tmp-" prefix. Trailing white space is not refused but removed
// (Normalize): protocols that strip their request lines can never name it
// again, and a stock client may well send it.
package names

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest name accepted, in bytes (the common file-system
// limit, and what the protocols' fixed fields allow).
const MaxLen = 255

// ReservedPrefix starts the blob store's in-progress files.
const ReservedPrefix = ".tmp-"

// The reasons a name is refused. Each error's text says why.
var (
	ErrEmpty     = errors.New("names: empty name")
	ErrTooLong   = errors.New("names: name longer than 255 bytes")
	ErrDot       = errors.New(`names: "." and ".." are not file names`)
	ErrSeparator = errors.New("names: name holds a path separator")
	ErrControl   = errors.New("names: name holds a control character")
	ErrBidi      = errors.New("names: name holds a bidirectional override, isolate or mark")
	ErrEncoding  = errors.New("names: name is not valid UTF-8")
	ErrReserved  = errors.New("names: name starts with the reserved .tmp- prefix")
	ErrSpace     = errors.New("names: name ends in white space")
)

// IsSpace is white space as Python's str.isspace sees it (which is what the
// original servers stripped): Unicode white space plus the information
// separators U+001C..U+001F.
func IsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// IsBidi reports the bidirectional formatting characters that reorder what
// follows them: embeddings and overrides (U+202A–U+202E) and isolates
// (U+2066–U+2069). The marks (U+200E, U+200F, U+061C) are not refused: they
// only set the direction of neighbouring neutral characters, and file names
// written in Hebrew or Arabic carry them legitimately.
func IsBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// IsControl reports C0 controls, DEL and C1 controls.
func IsControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// Normalize returns the form a name is stored and looked up under: the
// name without trailing white space. It changes nothing else (no Unicode
// normalisation: names compare as bytes).
func Normalize(name string) string { return strings.TrimRightFunc(name, IsSpace) }

// Clean normalises name and checks the result: the name to store or look
// up, or the reason it can be neither.
func Clean(name string) (string, error) {
	n := Normalize(name)
	if err := Check(n); err != nil {
		return "", err
	}
	return n, nil
}

// Check reports why name cannot be stored as it is, or nil. A name Check
// accepts is its own Normalize.
func Check(name string) error {
	if name == "" {
		return ErrEmpty
	}
	if len(name) > MaxLen {
		return ErrTooLong
	}
	if name == "." || name == ".." {
		return ErrDot
	}
	if !utf8.ValidString(name) {
		return ErrEncoding
	}
	if err := CheckChars(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, `/\`) {
		return ErrSeparator
	}
	if strings.HasPrefix(name, ReservedPrefix) {
		return ErrReserved
	}
	if r, _ := utf8.DecodeLastRuneInString(name); IsSpace(r) {
		return ErrSpace
	}
	return nil
}

// CheckChars applies only the character rules (UTF-8, control, bidi) to a
// text that is not a file name, such as an account's display name.
func CheckChars(s string) error {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return ErrEncoding
		case IsControl(r):
			return ErrControl
		case IsBidi(r):
			return ErrBidi
		}
	}
	return nil
}
