package pyexpr

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// powVector is one row of testdata/pow_vectors.jsonl: the original's reply
// computed by CPython with glibc's FMA build of pow and with its SSE2
// build (nil: the original sent no reply).
type powVector struct {
	Expr string  `json:"expr"`
	FMA  *string `json:"fma"`
	SSE2 *string `json:"sse2"`
}

func loadPowVectors(t *testing.T) []powVector {
	t.Helper()
	f, err := os.Open("testdata/pow_vectors.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []powVector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v powVector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 200 {
		t.Fatalf("only %d pow vectors", len(out))
	}
	return out
}

// withPow runs f with glibcPow set to pow (tests using it are not parallel).
func withPow(pow func(x, y float64) float64, f func()) {
	saved := glibcPow
	glibcPow = pow
	defer func() { glibcPow = saved }()
	f()
}

// TestPowVectorsBothGlibcBuilds: every vector's reply equals CPython's
// with glibc's FMA build when powFused is used, and with its SSE2 build
// when powPlain is used. Some vectors differ between the builds, so each
// kernel is checked against its own build, whichever this machine has.
func TestPowVectorsBothGlibcBuilds(t *testing.T) {
	vecs := loadPowVectors(t)
	differ := 0
	for _, build := range []struct {
		name string
		pow  func(x, y float64) float64
		want func(v powVector) *string
	}{
		{"fma", powFused, func(v powVector) *string { return v.FMA }},
		{"sse2", powPlain, func(v powVector) *string { return v.SSE2 }},
	} {
		withPow(build.pow, func() {
			for _, v := range vecs {
				want := `{"status": "error", "message": "Complex numbers are not supported"}`
				if w := build.want(v); w != nil {
					want = *w
				}
				got := reply(v.Expr, DefaultLimits)
				if string(got) != want {
					t.Errorf("%s build: %s\n got %s\nwant %s", build.name, v.Expr, got, want)
				}
			}
		})
	}
	for _, v := range vecs {
		if (v.FMA == nil) != (v.SSE2 == nil) || v.FMA != nil && *v.FMA != *v.SSE2 {
			differ++
		}
	}
	if differ < 10 {
		t.Fatalf("only %d vectors tell the two glibc builds apart", differ)
	}
}

// TestPowKernelEdges checks the kernels on inputs CPython never passes to
// pow (it answers them itself) but the kernels must still get right, and
// that the two kernels agree except in the last bit.
func TestPowKernelEdges(t *testing.T) {
	nan := math.NaN()
	inf := math.Inf(1)
	cases := []struct{ x, y, want float64 }{
		{2, 0, 1}, {nan, 0, 1}, {1, nan, 1}, {0, -1, inf}, {math.Copysign(0, -1), -1, -inf},
		{math.Copysign(0, -1), 3, math.Copysign(0, -1)}, {-inf, 3, -inf}, {-inf, -2, 0},
		{0.5, inf, 0}, {2, -inf, 0}, {2, inf, inf}, {-1, inf, 1}, {-2, 3, -8}, {-2, 0.5, nan},
		{2, 0x1p-70, 1}, {0.5, 0x1p-70, 1}, {2, 0x1p70, inf}, {2, -0x1p70, 0}, {0.5, 0x1p70, 0},
		{5e-324, 0.5, 2.2227587494850775e-162}, {2, 1023, 0x1p1023}, {2, -1074, 5e-324},
		{2, 1024, inf}, {2, -1075, 0}, {-2, -1075, math.Copysign(0, -1)}, {10, 2, 100},
	}
	for _, k := range []struct {
		name string
		pow  func(x, y float64) float64
	}{{"fused", powFused}, {"plain", powPlain}} {
		for _, c := range cases {
			got := k.pow(c.x, c.y)
			if math.Float64bits(got) != math.Float64bits(c.want) && !(math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Errorf("%s pow(%v, %v) = %v, want %v", k.name, c.x, c.y, got, c.want)
			}
		}
	}
	// A fixed walk over ordinary inputs: the builds differ by at most one
	// unit in the last place, never more.
	x, y := 0.37, -3.0
	for i := 0; i < 20000; i++ {
		x = x*1.618033988749895 + 0.001
		if x > 1000 {
			x /= 997
		}
		y += 0.0123
		a, b := powFused(x, y), powPlain(x, y)
		if d := int64(math.Float64bits(a)) - int64(math.Float64bits(b)); d > 1 || d < -1 {
			t.Fatalf("pow(%v, %v): fused %v, plain %v", x, y, a, b)
		}
	}
}

func BenchmarkGlibcPow(b *testing.B) {
	s := 0.0
	for i := 0; i < b.N; i++ {
		s += glibcPow(1.0001+float64(i&1023)*1e-4, 365.25)
	}
	_ = s
}
