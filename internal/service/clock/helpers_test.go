package clock

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
)

func fmtSscanf(s string, e, pub *int) (int, error) {
	return fmt.Sscanf(strings.Replace(s, ":", " ", 1), "%d %d", e, pub)
}

// exponents is a deterministic "random" source for randExponent: each value
// is served as two big-endian bytes, cycling.
type exponents struct {
	mu   sync.Mutex
	vals []uint16
	i    int
	half bool
}

func (x *exponents) Read(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for n := range p {
		v := x.vals[x.i%len(x.vals)]
		if !x.half {
			p[n] = byte(v >> 8)
		} else {
			p[n] = byte(v)
			x.i++
		}
		x.half = !x.half
	}
	return len(p), nil
}

func newExponents(v ...uint16) *exponents { return &exponents{vals: v} }

func nil2rand() io.Reader { return rand.Reader }
