package store

import "time"

// Times are stored as RFC 3339 text in UTC on both engines, so one query
// text and one scan path serve SQLite and PostgreSQL. The fraction has a
// fixed nine digits so that text order is time order: queries may compare
// stored times with "<" (RFC3339Nano drops trailing zeros, which breaks that).
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func nowText() string { return TimeText(time.Now()) }

// TimeText formats t the way the store keeps times.
func TimeText(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime reads a time written by TimeText (or any RFC 3339 time, as older
// rows have); the zero time for "".
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
