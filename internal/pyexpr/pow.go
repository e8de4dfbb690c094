package pyexpr

// pow(x, y) for float64 exactly as glibc computes it, so that Python's
// float ** float (CPython calls the C library's pow) answers the same bits
// here: 8**(1/3) is 2.0, not Go's 1.9999999999999998.
//
// The algorithm is the double-precision pow of ARM's optimized-routines
// (math/pow.c; Copyright (c) 2018 Arm Limited; MIT OR Apache-2.0 WITH
// LLVM-exception), which glibc adopted in 2.28: log(x) to about 68 bits in
// a head and a tail from a 128-entry table and a degree-8 polynomial, the
// product with y split so that no bit is lost, then exp from a 128-entry
// table of 2^(k/128) and a degree-5 polynomial. Its worst error is about
// 0.52 ULP, so it is not correctly rounded, and which last bit comes out
// depends on how the C compiler contracted a*b+c into fused multiply-adds.
// glibc on x86-64 ships two builds and picks one when libm is loaded:
//
//   - CPUs with FMA and AVX2: the source compiled with -mfma -mavx2, where
//     GCC fused nearly every a*b+c (read off the machine code of Debian
//     12's libm.so.6, glibc 2.36). powFused mirrors that instruction for
//     instruction with math.FMA.
//   - all other CPUs: the plain SSE2 build, no fusion anywhere. powPlain
//     mirrors the source's non-FMA branches; every product is wrapped in
//     float64() so that the Go compiler cannot fuse it either (the Go spec
//     allows x*y+z to be fused unless a conversion forces the rounding).
//
// glibcPow is chosen the way glibc's resolver chooses (see pow_cpu.go).
// Tables are in pow_data.go.

import "math"

const (
	powTableBits = 7
	expTableBits = 7
	// powOff is the start of the table's subintervals: x = 2^k·z with z in
	// [powOff, 2·powOff).
	powOff = 0x3fe6955500000000
	// expSignBias flips the sign of the result through the exponent bits.
	expSignBias = 0x800 << expTableBits
)

// top12 is the sign and exponent field of x.
func top12(x float64) uint32 { return uint32(math.Float64bits(x) >> 52) }

// powLogEntryFor splits ix (the bits of a positive x, subnormals already
// normalised) into x = 2^k·z and returns k, z and z's table entry.
func powLogEntryFor(ix uint64) (kd, z float64, iz uint64, t *powLogEntry) {
	tmp := ix - powOff
	i := (tmp >> (52 - powTableBits)) % (1 << powTableBits)
	k := int64(tmp) >> 52
	iz = ix - (tmp & (0xfff << 52))
	return float64(k), math.Float64frombits(iz), iz, &powLogTab[i]
}

// logPlain returns log(x) as hi + tail, computed without fused operations.
func logPlain(ix uint64) (hi, tail float64) {
	kd, z, iz, t := powLogEntryFor(ix)
	A := &powLogPoly
	// z/c - 1 is exact, but without an FMA it is formed from z split in a
	// 21-bit head and the rest, so that every product below is exact.
	zhi := math.Float64frombits((iz + 1<<31) & 0xffffffff00000000)
	zlo := z - zhi
	rhi := float64(zhi*t.invc) - 1.0
	rlo := float64(zlo * t.invc)
	r := rhi + rlo

	t1 := float64(kd*powLn2Hi) + t.logc
	t2 := t1 + r
	lo1 := float64(kd*powLn2Lo) + t.logctail
	lo2 := t1 - t2 + r

	ar := float64(A[0] * r)
	ar2 := float64(r * ar)
	ar3 := float64(r * ar2)
	arhi := float64(A[0] * rhi)
	arhi2 := float64(rhi * arhi)
	h := t2 + arhi2
	lo3 := float64(rlo * (ar + arhi))
	lo4 := t2 - h + arhi2

	q56 := A[5] + float64(r*A[6])
	q34 := A[3] + float64(r*A[4]) + float64(ar2*q56)
	q12 := A[1] + float64(r*A[2]) + float64(ar2*q34)
	p := float64(ar3 * q12)

	lo := lo1 + lo2 + lo3 + lo4 + p
	y := h + lo
	return y, h - y + lo
}

// logFused is logPlain as glibc's FMA build computes it: the explicit fma
// calls of the source plus every contraction GCC made.
func logFused(ix uint64) (hi, tail float64) {
	kd, z, _, t := powLogEntryFor(ix)
	A := &powLogPoly
	t1 := math.FMA(kd, powLn2Hi, t.logc)
	lo1 := math.FMA(kd, powLn2Lo, t.logctail)
	r := math.FMA(z, t.invc, -1.0)

	ar := float64(r * A[0])
	q12 := math.FMA(r, A[2], A[1])
	q34 := math.FMA(r, A[4], A[3])
	t2 := r + t1
	ar2 := float64(r * ar)
	lo2 := t1 - t2 + r
	ar3 := float64(r * ar2)
	lo3 := math.FMA(ar, r, -ar2)
	q56 := math.FMA(r, A[6], A[5])
	h := t2 + ar2
	lo4 := t2 - h + ar2
	q := math.FMA(q56, ar2, q34)
	q = math.FMA(ar2, q, q12)

	lo := lo1 + lo2 + lo3 + lo4
	lo = math.FMA(ar3, q, lo)
	y := h + lo
	return y, h - y + lo
}

// expScaled returns sign·exp(x + xtail), |xtail| tiny against x; signBias
// is 0 or expSignBias.
func expScaled(x, xtail float64, signBias uint64, fused bool) float64 {
	abstop := top12(x) & 0x7ff
	if abstop-top12(0x1p-54) >= top12(512)-top12(0x1p-54) {
		if abstop < top12(0x1p-54) {
			// exp(tiny) rounds to 1 (x + 1 keeps the rounding direction).
			one := 1.0 + x
			if signBias != 0 {
				return -one
			}
			return one
		}
		if abstop >= top12(1024) {
			if math.Signbit(x) {
				return powUnderflow(signBias != 0)
			}
			return powOverflow(signBias != 0)
		}
		// Large but maybe representable: scaled below without overflow.
		abstop = 0
	}

	// x = k·ln2/N + r with |r| ≤ ln2/2N; exp(x) = 2^(k/N)·exp(r).
	var kd float64
	if fused {
		kd = math.FMA(x, expInvLn2N, expShift)
	} else {
		kd = float64(expInvLn2N*x) + expShift
	}
	ki := math.Float64bits(kd)
	kd -= expShift
	var r float64
	if fused {
		r = math.FMA(kd, expNegLn2LoN, math.FMA(kd, expNegLn2HiN, x))
	} else {
		r = x + float64(kd*expNegLn2HiN) + float64(kd*expNegLn2LoN)
	}
	r += xtail

	idx := 2 * (ki % (1 << expTableBits))
	top := (ki + signBias) << (52 - expTableBits)
	tail := math.Float64frombits(expTab[idx])
	sbits := expTab[idx+1] + top

	C := &expPoly
	r2 := float64(r * r)
	var tmp float64
	if fused {
		tmp = math.FMA(math.FMA(r, C[1], C[0]), r2, tail+r)
		tmp = math.FMA(math.FMA(r, C[3], C[2]), float64(r2*r2), tmp)
	} else {
		tmp = tail + r + float64(r2*(C[0]+float64(r*C[1]))) +
			float64(float64(r2*r2)*(C[2]+float64(r*C[3])))
	}
	if abstop == 0 {
		return expSpecial(tmp, sbits, ki, fused)
	}
	scale := math.Float64frombits(sbits)
	if fused {
		return math.FMA(scale, tmp, scale)
	}
	return scale + float64(scale*tmp)
}

// expSpecial is scale·(1 + tmp) when the exponent in sbits may have left
// the double range: overflow for k > 0, the subnormal range for k < 0.
func expSpecial(tmp float64, sbits, ki uint64, fused bool) float64 {
	if ki&0x80000000 == 0 {
		// k > 0: the exponent overflowed by at most 460.
		scale := math.Float64frombits(sbits - 1009<<52)
		var y float64
		if fused {
			y = math.FMA(scale, tmp, scale)
		} else {
			y = scale + float64(scale*tmp)
		}
		return float64(0x1p1009 * y)
	}
	// k < 0: compute in the normal range, round once at 53 bits, then
	// scale into the subnormal range (both builds compute this unfused).
	sbits += 1022 << 52
	scale := math.Float64frombits(sbits)
	st := float64(scale * tmp)
	y := scale + st
	if math.Abs(y) < 1.0 {
		one := 1.0
		if y < 0.0 {
			one = -1.0
		}
		lo := scale - y + st
		hi := one + y
		lo = one - hi + y + lo
		y = (hi + lo) - one
		if y == 0 {
			y = math.Float64frombits(sbits & (1 << 63))
		}
	}
	return float64(0x1p-1022 * y)
}

func powOverflow(neg bool) float64 {
	if neg {
		return math.Inf(-1)
	}
	return math.Inf(1)
}

func powUnderflow(neg bool) float64 {
	if neg {
		return math.Copysign(0, -1)
	}
	return 0
}

// powCheckInt reports whether the bits iy of a finite non-zero y are not an
// integer (0), an odd integer (1) or an even integer (2).
func powCheckInt(iy uint64) int {
	e := int(iy >> 52 & 0x7ff)
	switch {
	case e < 0x3ff:
		return 0
	case e > 0x3ff+52:
		return 2
	case iy&(1<<(0x3ff+52-e)-1) != 0:
		return 0
	case iy&(1<<(0x3ff+52-e)) != 0:
		return 1
	}
	return 2
}

// zeroInfNaN reports whether the bits i are ±0, ±Inf or NaN.
func zeroInfNaN(i uint64) bool {
	return 2*i-1 >= 2*math.Float64bits(math.Inf(1))-1
}

// powPlain is glibc's pow in its SSE2 build; powFused in its FMA build.
func powPlain(x, y float64) float64 { return powGlibc(x, y, false) }
func powFused(x, y float64) float64 { return powGlibc(x, y, true) }

func powGlibc(x, y float64, fused bool) float64 {
	var signBias uint64
	ix := math.Float64bits(x)
	iy := math.Float64bits(y)
	topx, topy := top12(x), top12(y)
	inf := math.Float64bits(math.Inf(1))
	one := math.Float64bits(1.0)
	// Special inputs: x subnormal, zero, negative, Inf or NaN; |y| below
	// 2^-65, at least 2^63, or NaN.
	if topx-0x001 >= 0x7ff-0x001 || (topy&0x7ff)-0x3be >= 0x43e-0x3be {
		if zeroInfNaN(iy) {
			switch {
			case 2*iy == 0:
				return 1.0
			case ix == one:
				return 1.0
			case 2*ix > 2*inf || 2*iy > 2*inf:
				return x + y
			case 2*ix == 2*one:
				return 1.0
			case (2*ix < 2*one) == (iy>>63 == 0):
				return 0.0 // |x| < 1 and y = +Inf, or |x| > 1 and y = -Inf
			}
			return y * y
		}
		if zeroInfNaN(ix) {
			x2 := float64(x * x)
			if ix>>63 != 0 && powCheckInt(iy) == 1 {
				x2 = -x2
			}
			if iy>>63 != 0 {
				return 1 / x2
			}
			return x2
		}
		// x and y are finite and non-zero here.
		if ix>>63 != 0 {
			switch powCheckInt(iy) {
			case 0:
				return math.NaN()
			case 1:
				signBias = expSignBias
			}
			ix &^= 1 << 63
			topx &= 0x7ff
		}
		if (topy&0x7ff)-0x3be >= 0x43e-0x3be {
			// |y| is tiny or huge (and then even, so the sign is +).
			if ix == one {
				return 1.0
			}
			if topy&0x7ff < 0x3be {
				if ix > one {
					return 1.0 + y
				}
				return 1.0 - y
			}
			if (ix > one) == (topy < 0x800) {
				return powOverflow(false)
			}
			return powUnderflow(false)
		}
		if topx == 0 {
			// Subnormal x: normalise, letting the exponent go negative.
			ix = math.Float64bits(float64(x*0x1p52)) &^ (1 << 63)
			ix -= 52 << 52
		}
	}

	var ehi, elo float64
	if fused {
		hi, lo := logFused(ix)
		ehi = float64(y * hi)
		elo = math.FMA(y, lo, math.FMA(hi, y, -ehi))
	} else {
		hi, lo := logPlain(ix)
		// y·(hi + lo) with y and hi cut to 26 bits so that yhi·lhi is exact.
		yhi := math.Float64frombits(iy & 0xfffffffff8000000)
		ylo := y - yhi
		lhi := math.Float64frombits(math.Float64bits(hi) & 0xfffffffff8000000)
		llo := hi - lhi + lo
		ehi = float64(yhi * lhi)
		elo = float64(ylo*lhi) + float64(y*llo)
	}
	return expScaled(ehi, elo, signBias, fused)
}
