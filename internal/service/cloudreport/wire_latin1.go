package cloudreport

// Wire format: Latin-1 text, the way the seed's Python str methods treat it.

import (
	"strings"
)

// isSpace is Python's str.isspace restricted to Latin-1: besides ASCII
// whitespace it includes the separators 0x1C-0x1F, NEL (0x85) and NBSP (0xA0).
func isSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

func strip(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// stripString is strip on a string: a substring, no copy.
func stripString(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// upper is Python's str.upper on Latin-1 text, re-encoded as Latin-1. Three
// characters have upper cases outside Latin-1 (µ→Μ, ÿ→Ÿ) or expand (ß→SS);
// the seed then failed to encode its reply and sent nothing, leaving the
// client hanging. We send '?' for the two that cannot be encoded.
func upper(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			sb.WriteByte(c - 32)
		case c == 0xdf:
			sb.WriteString("SS")
		case c == 0xb5 || c == 0xff:
			sb.WriteByte('?')
		case c >= 0xe0 && c <= 0xfe && c != 0xf7:
			sb.WriteByte(c - 32)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// Latin1ToUTF8 converts wire text (one byte per character) to Go text.
func Latin1ToUTF8(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// UTF8ToLatin1 converts Go text to wire text; characters above U+00FF
// become '?'.
func UTF8ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}
