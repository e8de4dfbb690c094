package store

import (
	"testing"
	"time"
)

func TestTimeTextSortsLikeTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// With trailing zeros dropped, "…00Z" sorts after "…00.09Z" and ".1Z"
	// after ".10000001Z": each neighbouring pair here would break.
	times := []time.Time{base, base.Add(90 * time.Millisecond), base.Add(100 * time.Millisecond), base.Add(100*time.Millisecond + 10), base.Add(time.Second)}
	for i := 1; i < len(times); i++ {
		a, b := TimeText(times[i-1]), TimeText(times[i])
		if !(a < b) {
			t.Fatalf("text order breaks time order: %q !< %q", a, b)
		}
		back, err := ParseTime(b)
		if err != nil || !back.Equal(times[i]) {
			t.Fatalf("round trip %q: %v %v", b, back, err)
		}
	}
	if old, err := ParseTime("2026-11-25T10:00:00.1Z"); err != nil || !old.Equal(times[2]) {
		t.Fatalf("older RFC3339Nano row: %v %v", old, err)
	}
}
