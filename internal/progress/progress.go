// Package progress draws one transfer's progress (bytes, rate, ETA) on a
// terminal. It redraws with \r only when the output is a character device,
// and prints one final line otherwise.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar counts bytes written through it.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer
	label   string
	total   int64
	done    int64
	start   time.Time
	last    time.Time
	tty     bool
	stopped bool
}

// New returns a Bar for a transfer of total bytes (0 if unknown) that draws
// on w (usually os.Stderr). A nil w draws nothing.
func New(w io.Writer, label string, total int64) *Bar {
	b := &Bar{w: w, label: label, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

// Write adds len(p) to the count; it never fails, so a Bar can sit in an
// io.MultiWriter or io.TeeReader.
func (b *Bar) Write(p []byte) (int, error) {
	b.Add(int64(len(p)))
	return len(p), nil
}

// Add counts n more bytes.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.tty && b.w != nil && time.Since(b.last) >= 100*time.Millisecond {
		b.last = time.Now()
		fmt.Fprintf(b.w, "\r%s", b.line())
	}
}

// SetTotal replaces the expected size: a download whose announced size
// was an upper bound ends at 100% with the exact count.
func (b *Bar) SetTotal(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = n
}

// Done prints the final line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || b.w == nil {
		return
	}
	b.stopped = true
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\n", b.line())
	} else {
		fmt.Fprintln(b.w, b.line())
	}
}

func (b *Bar) line() string {
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	if b.total > 0 {
		pct := float64(b.done) * 100 / float64(b.total)
		eta := "--"
		if rate > 0 && b.done < b.total {
			eta = (time.Duration(float64(b.total-b.done)/rate) * time.Second).Round(time.Second).String()
		}
		return fmt.Sprintf("%s %5.1f%% %s/%s %s/s ETA %s   ", b.label, pct, Size(b.done), Size(b.total), Size(int64(rate)), eta)
	}
	return fmt.Sprintf("%s %s %s/s   ", b.label, Size(b.done), Size(int64(rate)))
}

// Size formats n bytes with a binary unit.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
