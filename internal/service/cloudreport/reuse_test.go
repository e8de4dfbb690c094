package cloudreport

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/legacycrypto"
)

// The allocation-free helpers of the INFO path (docs/performance.md,
// "cloudreport INFO") must answer exactly what the library code they
// replace answers.

func TestUpperEqualsMatchesUpper(t *testing.T) {
	alphabet := []byte{'a', 'z', 'A', 'Z', '0', '=', 's', 'S', 0xdf, 0xb5, 0xff, 0xe0, 0xf7, 0xfe, '?', 0xc0}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		up := upper(b)
		if !upperEquals(s, up) {
			t.Fatalf("upperEquals(%q, %q) = false", s, up)
		}
		for _, other := range []string{"DATA", "HST", "SS", "S", "?", up + "S", strings.TrimSuffix(up, "S")} {
			if got := upperEquals(s, other); got != (up == other) {
				t.Fatalf("upperEquals(%q, %q) = %v, upper gives %q", s, other, got, up)
			}
		}
	}
}

// oldParseLine is ParseLine as it was before the line was copied once.
func oldParseLine(line []byte) (Request, bool) {
	line = strip(line)
	if len(line) == 0 {
		return Request{}, false
	}
	var toks [][]byte
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if j > i {
			toks = append(toks, line[i:j])
		}
		i = j
	}
	r := Request{Cmd: upper(toks[0])}
	for _, t := range toks[1:] {
		r.Tokens = append(r.Tokens, string(t))
	}
	r.Rest = string(strip(line[len(toks[0]):]))
	return r, true
}

func TestParseLineMatchesOld(t *testing.T) {
	lines := []string{"", " ", "PING", "ping", " INFO  DATA=abc \r", "INIT ID=2 HST=X", "a\xa0b", "\xe9t\xdf\xb5\xff x",
		"ERRL [Error]Unable to check  credentials\r", "INFO\x1cDATA=x\x85", "Vers", "GREQ", "x y z"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		b := randFrom(rng, 12, " \tAbIN=\x85\xa0\xdf\r")
		lines = append(lines, string(b))
	}
	var toks []string
	for _, l := range lines {
		want, wok := oldParseLine([]byte(l))
		got, ok := parseLine([]byte(l), toks)
		toks = got.Tokens
		if ok != wok || got.Cmd != want.Cmd || got.Rest != want.Rest || strings.Join(got.Tokens, "\x00") != strings.Join(want.Tokens, "\x00") || len(got.Tokens) != len(want.Tokens) {
			t.Fatalf("%q: got %+v %v, want %+v %v", l, got, ok, want, wok)
		}
		if pub, _ := ParseLine([]byte(l)); (pub.Tokens == nil) != (want.Tokens == nil) {
			t.Fatalf("%q: ParseLine tokens nil-ness changed", l)
		}
	}
}

// oldParseFields is ParseFields as it was before the offsets.
func oldParseFields(b []byte) Fields {
	var sep []byte
	for _, s := range [][]byte{[]byte("\r\n"), []byte("\n"), []byte(";")} {
		if bytes.Contains(b, s) {
			sep = s
			break
		}
	}
	items := [][]byte{b}
	if sep != nil {
		items = bytes.Split(b, sep)
	}
	var out Fields
	for _, it := range items {
		k, v, ok := bytes.Cut(it, []byte("="))
		if !ok {
			continue
		}
		out = append(out, Field{string(strip(k)), string(strip(v))})
	}
	return out
}

func TestParseFieldRefsMatchesOld(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		b := randFrom(rng, 16, "AB=\r\n; \xa0iI")
		want := oldParseFields(b)
		got := ParseFields(b)
		if len(got) != len(want) {
			t.Fatalf("%q: %q want %q", b, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: %q want %q", b, got, want)
			}
		}
		refs := parseFieldRefs(b, nil)
		for _, key := range []string{"A", "i", "AB", ""} {
			wv, wok := want.Get(key)
			gv, gok := getField(b, refs, key)
			if wok != gok || wv != string(gv) {
				t.Fatalf("%q Get(%q): %q %v want %q %v", b, key, gv, gok, wv, wok)
			}
		}
	}
}

// zlibInflate is inflate as it was: compress/zlib read to EOF under a limit.
func zlibInflate(z []byte, limit int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil || len(out) > limit {
		return nil, errors.New("fail")
	}
	return out, nil
}

func TestInflateMatchesZlib(t *testing.T) {
	var inputs [][]byte
	for _, p := range [][]byte{nil, []byte("TT=Test"), bytes.Repeat([]byte("A"), 100), bytes.Repeat([]byte("xyz"), 3000)} {
		var buf bytes.Buffer
		w, _ := zlib.NewWriterLevel(&buf, 9)
		w.Write(p)
		w.Close()
		z := buf.Bytes()
		inputs = append(inputs, z, deflate(p), append(bytes.Clone(z), "trailing"...), z[:len(z)-1], z[:len(z)-4], z[:2], z[:1])
		bad := bytes.Clone(z)
		bad[len(bad)-1] ^= 1
		inputs = append(inputs, bad)
		// A preset-dictionary flag: accepted only with the empty
		// dictionary's checksum, as compress/zlib does.
		for _, id := range []uint32{adler32.Checksum(nil), 7} {
			d := []byte{0x78, 0x20} // FLEVEL 0, FDICT, FCHECK 0: 0x7820 is a multiple of 31
			d = binary.BigEndian.AppendUint32(d, id)
			d = append(d, z[2:]...)
			if _, err := zlibInflate(d, 1<<20); (err == nil) != (id == 1) {
				t.Fatalf("dictionary id %d: zlib says %v", id, err)
			}
			inputs = append(inputs, d)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 3000 {
		z := bytes.Clone(inputs[rng.IntN(len(inputs))])
		if len(z) > 0 {
			z[rng.IntN(len(z))] ^= byte(1 << rng.IntN(8))
		}
		inputs = append(inputs, z)
	}
	for _, z := range inputs {
		for _, limit := range []int{0, 7, 99, 100, 101, 9000, 1 << 20} {
			want, werr := zlibInflate(z, limit)
			got, err := inflate(z, limit)
			if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
				t.Fatalf("inflate(%x, %d) = %q, %v; zlib %q, %v", z, limit, got, err, want, werr)
			}
		}
	}
}

func TestLenientBase64MatchesLegacy(t *testing.T) {
	inputs := []string{"", "AAAA", "UGaXqXH+ag", "UGaXqXH+ag==", "UGaXqXH+ag=junk", "U Ga\r\nXq*XH+ag", "A", "AB", "ABC", "AB\nC", "A\n", "AB==CD"}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		b := randFrom(rng, 14, "AZaz09+/=\r\n .-_")
		inputs = append(inputs, string(b))
	}
	var buf codecBuf
	for _, s := range inputs {
		want, werr := legacycrypto.LenientBase64(s)
		got, ok := buf.lenientBase64(s)
		if ok != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%q: %x %v, want %x %v", s, got, ok, want, werr)
		}
	}
}

func TestAppendDateClockMatchFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	times := []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 7, 5, 3, 0, time.FixedZone("x", 3600))}
	for range 5000 {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, 0).In(time.FixedZone("y", rng.IntN(86400)-43200)))
	}
	for _, tm := range times {
		if got, want := string(appendDate([]byte("x"), tm)), "x"+tm.Format("2006-01-02"); got != want {
			t.Fatalf("%v: date %q want %q", tm, got, want)
		}
		if got, want := string(appendClock(nil, tm)), tm.Format("15:04:05"); got != want {
			t.Fatalf("%v: clock %q want %q", tm, got, want)
		}
	}
}

// A pooled buffer does not keep a large payload's memory.
func TestCodecBufTrimmed(t *testing.T) {
	b := &codecBuf{plain: make([]byte, maxKeptBuf+1), out: make([]byte, 10, 100)}
	putCodecBuf(b)
	if b.plain != nil || cap(b.out) != 100 || len(b.out) != 0 {
		t.Fatalf("plain cap %d, out %d/%d", cap(b.plain), len(b.out), cap(b.out))
	}
}

// randFrom is up to max-1 bytes drawn from chars.
func randFrom(rng *rand.Rand, max int, chars string) []byte {
	b := make([]byte, rng.IntN(max))
	for i := range b {
		b[i] = chars[rng.IntN(len(chars))]
	}
	return b
}
