package cloudreport

// Wire format: payload fields, the KEY=value lines inside DATA.

import (
	"bytes"
	"strings"
)

// Field is one KEY=value line of a payload.
type Field struct{ Key, Value string }

// Fields is an ordered payload.
type Fields []Field

// Get returns the value of the last field named key (ASCII case-insensitive).
func (f Fields) Get(key string) (string, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if strings.EqualFold(f[i].Key, key) {
			return f[i].Value, true
		}
	}
	return "", false
}

// Format joins the fields as "K=V" lines with CRLF and no trailing CRLF.
func (f Fields) Format() []byte {
	var b bytes.Buffer
	for i, kv := range f {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
	}
	return b.Bytes()
}

// ParseFields is the seed's parse_data_parameter: items are separated by the
// first separator present among CRLF, LF and ';'; an item without '=' is
// skipped; key and value are stripped.
//
// The keys and values share one copy of b: two allocations (the copy and
// the slice) for a payload of up to 16 fields, where a string per key and
// value made one each. The Go client parses every reply.
func ParseFields(b []byte) Fields {
	var buf [16]fieldRef
	refs := parseFieldRefs(b, buf[:0])
	if len(refs) == 0 {
		return nil
	}
	s := string(b)
	out := make(Fields, len(refs))
	for i, r := range refs {
		out[i] = Field{s[r.k0:r.k1], s[r.v0:r.v1]}
	}
	return out
}

// fieldRef is one field of a payload as offsets into it: ParseFields
// without copying.
type fieldRef struct{ k0, k1, v0, v1 int }

func (r fieldRef) key(b []byte) []byte   { return b[r.k0:r.k1] }
func (r fieldRef) value(b []byte) []byte { return b[r.v0:r.v1] }

// parseFieldRefs appends the fields of b, as ParseFields splits them, to dst.
func parseFieldRefs(b []byte, dst []fieldRef) []fieldRef {
	var sep string
	for _, s := range [...]string{"\r\n", "\n", ";"} {
		if bytes.Contains(b, []byte(s)) {
			sep = s
			break
		}
	}
	for start := 0; ; {
		end := len(b)
		if sep != "" {
			if i := bytes.Index(b[start:], []byte(sep)); i >= 0 {
				end = start + i
			}
		}
		if eq := bytes.IndexByte(b[start:end], '='); eq >= 0 {
			k0, k1 := stripRange(b, start, start+eq)
			v0, v1 := stripRange(b, start+eq+1, end)
			dst = append(dst, fieldRef{k0, k1, v0, v1})
		}
		if end == len(b) {
			return dst
		}
		start = end + len(sep)
	}
}

// stripRange is strip(b[i:j]) as offsets.
func stripRange(b []byte, i, j int) (int, int) {
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return i, j
}

// getField is Fields.Get over parseFieldRefs' result: the value of the
// last field named key (case-insensitive as strings.EqualFold).
func getField(b []byte, refs []fieldRef, key string) ([]byte, bool) {
	for i := len(refs) - 1; i >= 0; i-- {
		if bytes.EqualFold(refs[i].key(b), []byte(key)) {
			return refs[i].value(b), true
		}
	}
	return nil, false
}
