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
func ParseFields(b []byte) Fields {
	var sep []byte
	for _, s := range [][]byte{[]byte("\r\n"), []byte("\n"), []byte(";")} {
		if bytes.Contains(b, s) {
			sep = s
			break
		}
	}
	items := [][]byte{b}
	if sep != nil {
		items = bytes.Split(b, sep)
	}
	var out Fields
	for _, it := range items {
		k, v, ok := bytes.Cut(it, []byte("="))
		if !ok {
			continue
		}
		out = append(out, Field{string(strip(k)), string(strip(v))})
	}
	return out
}
