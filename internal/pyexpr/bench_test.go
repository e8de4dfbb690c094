package pyexpr

import "testing"

func BenchmarkEvaluate(b *testing.B) {
	for _, expr := range []string{"(6 + 4) * 8", "2**0.5**2", "len(str(10**4299))", "9**9**9"} {
		b.Run(expr, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				Eval(expr, DefaultLimits)
			}
		})
	}
}
