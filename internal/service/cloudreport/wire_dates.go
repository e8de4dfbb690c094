package cloudreport

// Wire format: dates (licence years) and the names clients may send (ids,
// update files).

import (
	"time"
)

// AddYears adds n calendar years, mapping 29 February to 28 February in a
// year that has none (the seed's date.replace(year=y+1) raised there and
// broke INFO every leap day).
func AddYears(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	if m == time.February && d == 29 {
		if ny := y + n; !(ny%4 == 0 && (ny%100 != 0 || ny%400 == 0)) {
			d = 28
		}
	}
	return time.Date(y+n, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// ValidClientID reports whether id may be a registry id: 1..64 characters
// of [A-Za-z0-9._-].
func ValidClientID(id string) bool { return validClientID(id) }

// validClientID is ValidClientID for wire bytes too.
func validClientID[T string | []byte](id T) bool {
	if len(id) == 0 || len(id) > maxClientID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidUpdateName reports whether name may name a file in the updates
// folder: 1..128 characters of [A-Za-z0-9._-], not starting with '.', so no
// separator, traversal or hidden file can come from the wire.
func ValidUpdateName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// appendDate is t.AppendFormat(b, "2006-01-02") without parsing the layout.
func appendDate(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02")
	}
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		'-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// appendClock is t.AppendFormat(b, "15:04:05") without parsing the layout.
func appendClock(b []byte, t time.Time) []byte {
	h, m, s := t.Clock()
	return append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
}
