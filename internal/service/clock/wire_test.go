package clock

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// unhex turns "11 06 0a 02" into bytes.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// docs/clock.md, "Test vectors": exponent e -> 11^e mod 257.
const exponentTable = `0:1 1:11 2:121 3:46 4:249 5:169 6:60 7:146 8:64 9:190 10:34 11:117 12:2 13:22 14:242 15:92
16:241 17:81 18:120 19:35 20:128 21:123 22:68 23:234 24:4 25:44 26:227 27:184 28:225 29:162
30:240 31:70 32:256 33:246 34:136 35:211 36:8 37:88 38:197 39:111 40:193 41:67 42:223 43:140
44:255 45:235 46:15 47:165 48:16 49:176 50:137 51:222 52:129 53:134 54:189 55:23 56:253 57:213
58:30 59:73 60:32 61:95 62:17 63:187`

func TestGoldenPublicKeys(t *testing.T) {
	t.Parallel()
	for _, f := range strings.Fields(exponentTable) {
		var e, pub int
		if _, err := fmtSscanf(f, &e, &pub); err != nil {
			t.Fatal(err)
		}
		if got := PublicKey(e); got != pub {
			t.Errorf("PublicKey(%d) = %d, want %d", e, got, pub)
		}
	}
	for priv, pub := range map[int]int{0: 1, 1: 11, 2: 121, 3: 46, 5: 169, 7: 146, 17: 81, 32: 256, 63: 187,
		64: 1, 65: 11, 100: 8, 227: 211, 500: 129, 999: 111, 1000: 193} {
		if got := PublicKey(priv); got != pub {
			t.Errorf("PublicKey(%d) = %d, want %d", priv, got, pub)
		}
	}
}

func TestSubgroupHas64Elements(t *testing.T) {
	t.Parallel()
	want := []int{1, 2, 4, 8, 11, 15, 16, 17, 22, 23, 30, 32, 34, 35, 44, 46, 60, 64, 67, 68, 70, 73, 81, 88, 92, 95, 111,
		117, 120, 121, 123, 128, 129, 134, 136, 137, 140, 146, 162, 165, 169, 176, 184, 187, 189, 190, 193, 197, 211,
		213, 222, 223, 225, 227, 234, 235, 240, 241, 242, 246, 249, 253, 255, 256}
	seen := map[int]bool{}
	for e := range 1001 {
		seen[PublicKey(e)] = true
	}
	var got []int
	for k := range seen {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("subgroup = %v", got)
	}
}

func TestGoldenSharedKeys(t *testing.T) {
	t.Parallel()
	for _, v := range []struct{ a, A, b, B, K int }{
		{5, 169, 7, 146, 211}, {17, 81, 100, 8, 8}, {123, 73, 456, 64, 4}, {1000, 193, 999, 111, 4},
		{0, 1, 500, 129, 1}, {16, 241, 2, 121, 256}, {32, 256, 1, 11, 256},
	} {
		if PublicKey(v.a) != v.A || PublicKey(v.b) != v.B {
			t.Errorf("public keys of %d/%d = %d/%d, want %d/%d", v.a, v.b, PublicKey(v.a), PublicKey(v.b), v.A, v.B)
		}
		if k1, k2 := SharedKey(v.B, v.a), SharedKey(v.A, v.b); k1 != v.K || k2 != v.K {
			t.Errorf("a=%d b=%d: client K=%d server K=%d, want %d", v.a, v.b, k1, k2, v.K)
		}
	}
	// Worked example A: A=137 (e=50), B=35 (e=19) gives 189.
	if k := SharedKey(35, 50); k != 189 || SharedKey(137, 19) != 189 {
		t.Errorf("example A key = %d, want 189", k)
	}
	if Shift(256) != 0 || !IsWeakShift(256) || !IsWeakShift(1) || !IsWeakShift(0) || IsWeakShift(2) || IsWeakShift(211) {
		t.Error("weak-shift classification wrong")
	}
}

// The original's frequencies of degenerate sessions (docs/clock.md, "Key
// exchange and cipher") over all 1001x1001 private
// key pairs of the original: shift 0 in 4.72 %, shift 1 in 6.35 %.
func TestDegenerateSessionRates(t *testing.T) {
	t.Parallel()
	var zero, one int
	for a := range 1001 {
		A := PublicKey(a)
		for b := range 1001 {
			switch Shift(SharedKey(A, b)) {
			case 0:
				zero++
			case 1:
				one++
			}
		}
	}
	const total = 1001 * 1001
	if p := float64(zero) * 100 / total; p < 4.715 || p >= 4.725 {
		t.Errorf("shift 0 in %.3f %% of sessions, the original's keys give 4.72 (docs/clock.md, \"Key exchange and cipher\")", p)
	}
	if p := float64(one) * 100 / total; p < 6.345 || p >= 6.355 {
		t.Errorf("shift 1 in %.3f %% of sessions, the original's keys give 6.35", p)
	}
}

func TestGoldenCaesarTIME(t *testing.T) {
	t.Parallel()
	for k, want := range map[int]string{
		0: "54 49 4d 45", 1: "55 4a 4e 46", 3: "57 4c 50 48", 17: "65 5a 5e 56", 35: "77 6c 70 68",
		120: "cc c1 c5 bd", 189: "11 06 0a 02", 200: "1c 11 15 0d", 211: "27 1c 20 18", 255: "53 48 4c 44",
		256: "54 49 4d 45", -1: "53 48 4c 44",
	} {
		got := Encrypt(nil, []byte("TIME"), k)
		if !bytes.Equal(got, unhex(t, want)) {
			t.Errorf("E_%d(TIME) = % x, want %s", k, got, want)
		}
		if back := Decrypt(nil, got, k); string(back) != "TIME" {
			t.Errorf("D_%d(E(TIME)) = %q", k, back)
		}
	}
}

func TestGoldenCaesarVectors(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		k           int
		plain, wire string
	}{
		{35, "DATE", "67 64 77 68"}, {35, "TEMP", "77 68 70 73"}, {35, "6°C", "59 e5 d3 66"},
		{35, "-50°C", "50 58 53 e5 d3 66"}, {35, "2024-10-23", "55 53 55 57 50 54 53 50 55 56"},
		{35, "00:02:19.198109", "53 53 5d 53 55 5d 54 5c 51 54 5c 5b 54 53 5c"},
		{211, "DATE", "17 14 27 18"}, {211, "TEMP", "27 18 20 23"}, {211, "50°C", "08 03 95 83 16"},
		{211, "-50°C", "00 08 03 95 83 16"}, {211, "00:02:19", "03 03 0d 03 05 0d 04 0c"},
		// Worked example B (a=5, b=7).
		{211, "TIME", "27 1c 20 18"},
		{211, "00:02:19.198109", "03 03 0d 03 05 0d 04 0c 01 04 0c 0b 04 03 0c"},
		{211, "2024-10-23", "05 03 05 07 00 04 03 00 05 06"},
		{211, "6°C", "09 95 83 16"},
		// Worked example A (captured, K=189).
		{189, "11:51:06.090880", "ee ee f7 f2 ee f7 ed f3 eb ed f6 ed f5 f5 ed"},
		{189, "DATE", "01 fe 11 02"}, {189, "2026-11-22", "ef ed ef f3 ea ee ee ea ef ef"},
		{189, "TEMP", "11 02 0a 0d"}, {189, "-44°C", "ea f1 f1 7f 6d 00"},
		// Live-server check: K=1 turns the date into "3137.22.33".
		{1, "2026-11-22", "33 31 33 37 2e 32 32 2e 33 33"},
	} {
		if got := Encrypt(nil, []byte(v.plain), v.k); !bytes.Equal(got, unhex(t, v.wire)) {
			t.Errorf("E_%d(%q) = % x, want %s", v.k, v.plain, got, v.wire)
		}
		if got := Decrypt(nil, unhex(t, v.wire), v.k); string(got) != v.plain {
			t.Errorf("D_%d(%s) = %q, want %q", v.k, v.wire, got, v.plain)
		}
	}
}

func TestParseKeyLikePythonInt(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"169": 169, " 169\n": 169, "+169": 169, "1_6_9": 169, "0169": 169, "١٦٩": 169, "-88": 169,
		"0": 0, "257": 0, "256": 256, "-1": 256, "514": 0, "\x1c35\x1f": 35, "\u3000137\u00a0": 137,
		"𝟏𝟔𝟗":   169, // MATHEMATICAL BOLD DIGITS, the longest run of Nd characters
		"٠٠٠٠١": 1,
	} {
		got, err := ParseKey([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseKey(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	long := strings.Repeat("9", MaxMessage)
	n, _ := new(big.Int).SetString(long, 10)
	want := int(new(big.Int).Mod(n, big.NewInt(Prime)).Int64())
	if got, err := ParseKey([]byte(long)); err != nil || got != want {
		t.Errorf("ParseKey(1024 nines) = %d, %v; want %d", got, err, want)
	}
	for _, in := range []string{"", " ", "abc", "1__6", "_16", "16_", "+", "-", "- 5", "+-5", "1 6", "0x10",
		"16.0", "\xff16", "1\x006", long + "9", "١_", "Ⅻ"} {
		if v, err := ParseKey([]byte(in)); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(%q) = %d, %v; want ErrBadKey", in, v, err)
		}
	}
}

func TestParseCommand(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Command{
		"TIME": CmdTime, "DATE": CmdDate, "TEMP": CmdTemp, "time": CmdTime, "Date": CmdDate,
		" date\n": CmdDate, "Temp\r\n": CmdTemp, "tıme": CmdTime, "\x1ctime\x1f": CmdTime,
		"\u2003TEMP\u3000": CmdTemp,
		"HELO":             CmdUnknown, "TIMETIME": CmdUnknown, "TI": CmdUnknown, "ME": CmdUnknown, "": CmdUnknown,
		"T IME": CmdUnknown, "TIME\x00": CmdUnknown, "TİME": CmdUnknown, "ＴＩＭＥ": CmdUnknown,
	} {
		got, err := ParseCommand([]byte(in))
		if err != nil || got != want {
			t.Errorf("ParseCommand(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"\xff", "TIM\xc3", "\xed\xa0\x80", "TIME\x80"} {
		if _, err := ParseCommand([]byte(in)); !errors.Is(err, ErrInvalidUTF8) {
			t.Errorf("ParseCommand(%q): err = %v, want ErrInvalidUTF8", in, err)
		}
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 10, 23, 0, 2, 19, 198109999, time.Local)
	if got := FormatTime(ts); got != "00:02:19.198109" {
		t.Errorf("FormatTime = %q", got)
	}
	// Python drops the fraction when the microsecond is 0: 8 bytes, not 15.
	if got := FormatTime(ts.Add(-198109999 + 999)); got != "00:02:19" {
		t.Errorf("FormatTime at microsecond 0 = %q", got)
	}
	if got := FormatTime(time.Date(2024, 1, 1, 23, 5, 0, 1000, time.Local)); got != "23:05:00.000001" {
		t.Errorf("FormatTime = %q", got)
	}
	if got := FormatDate(ts); got != "2024-10-23" {
		t.Errorf("FormatDate = %q", got)
	}
	for c, want := range map[int]string{6: "36 c2 b0 43", -50: "2d 35 30 c2 b0 43", 0: "30 c2 b0 43"} {
		if got := []byte(FormatTemp(c)); !bytes.Equal(got, unhex(t, want)) {
			t.Errorf("FormatTemp(%d) = % x, want %s", c, got, want)
		}
	}
	if string(FormatKey(7)) != "7" || string(FormatKey(256)) != "256" {
		t.Error("FormatKey")
	}
}

func TestWeakPeerKeys(t *testing.T) {
	t.Parallel()
	for pub := -600; pub < 600; pub++ {
		forced := true
		for b := range 64 {
			if !IsWeakShift(SharedKey(pub, b)) {
				forced = false
				break
			}
		}
		if forced != IsWeakPeerKey(pub) {
			t.Errorf("key %d: forces weak shift = %v, IsWeakPeerKey = %v", pub, forced, IsWeakPeerKey(pub))
		}
	}
}
