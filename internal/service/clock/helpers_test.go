package clock

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
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

// testConfig is DefaultConfig with the exponent source rnd and the clock
// stopped at now, when given (nil, zero: crypto/rand, time.Now).
func testConfig(rnd io.Reader, now time.Time) Config {
	c := DefaultConfig()
	c.Rand = rnd
	if !now.IsZero() {
		c.Now = func() time.Time { return now }
	}
	return c
}

// withFixedTemp is c with temp_source = "fixed" reading v.
func withFixedTemp(c Config, v int) Config {
	c.TempSource, c.TempFixed = "fixed", v
	return c
}

// refusing is c with refuse_weak_client_keys on.
func refusing(c Config) Config {
	c.RefuseWeakClientKeys = true
	return c
}

// newServer is New for tests: an error fails the test.
func newServer(t testing.TB, cfg Config, env Env) *Server {
	t.Helper()
	s, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
