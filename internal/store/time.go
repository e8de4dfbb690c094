package store

import "time"

// Times are stored as RFC 3339 text in UTC on both engines, so one query
// text and one scan path serve SQLite and PostgreSQL.
const timeLayout = time.RFC3339Nano

func nowText() string { return time.Now().UTC().Format(timeLayout) }

// TimeText formats t the way the store keeps times.
func TimeText(t time.Time) string { return t.UTC().Format(timeLayout) }

// ParseTime reads a time written by TimeText; the zero time for "".
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeLayout, s)
}
