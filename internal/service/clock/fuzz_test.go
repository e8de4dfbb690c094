package clock

import (
	"gatehouse/internal/netsvc"

	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"testing"
	"time"
)

// memConn feeds a session pre-cut reads and records its writes.
type memConn struct {
	reads  [][]byte
	writes [][]byte
}

func (m *memConn) Read(p []byte) (int, error) {
	if len(m.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(p, m.reads[0])
	if n < len(m.reads[0]) {
		m.reads[0] = m.reads[0][n:]
	} else {
		m.reads = m.reads[1:]
	}
	return n, nil
}

func (m *memConn) Write(p []byte) (int, error) {
	m.writes = append(m.writes, bytes.Clone(p))
	return len(p), nil
}

func (m *memConn) StartHandshake()        {}
func (m *memConn) EndHandshake()          {}
func (m *memConn) HandshakeFailed(string) {}
func (m *memConn) Request(ctx context.Context, _ string) (context.Context, func(netsvc.Status)) {
	return ctx, func(netsvc.Status) {}
}
func (m *memConn) Log() *slog.Logger { return slog.New(slog.DiscardHandler) }

// cut splits stream into reads whose lengths come from sizes (each byte
// plus one), the rest in one read: the fuzzer chooses the segmentation.
func cut(stream, sizes []byte) [][]byte {
	var out [][]byte
	for _, s := range sizes {
		if len(stream) == 0 {
			break
		}
		n := min(int(s)+1, len(stream))
		out = append(out, stream[:n])
		stream = stream[n:]
	}
	if len(stream) > 0 {
		out = append(out, stream)
	}
	return out
}

// FuzzSession drives the whole server request path (key parse, exchange,
// decrypt, parse, respond) with arbitrary bytes cut into arbitrary reads,
// and checks every write against what docs/clock.md says that read must get.
func FuzzSession(f *testing.F) {
	f.Add([]byte("169"), unhex(f, "27 1c 20 18 17 14 27 18 27 18 20 23"), []byte{3, 3, 3})
	f.Add([]byte("137"), unhex(f, "11 06 0a 02 01 fe 11 02 11 02 0a 0d"), []byte{3, 3, 3})
	f.Add([]byte(" 169\n"), []byte("TIMETIME"), []byte{1, 1, 7})
	f.Add([]byte("1"), []byte("69"), []byte{})
	f.Add([]byte("١٦٩"), unhex(f, "27 1c 20 18 ff"), []byte{0, 0, 0, 0, 0})
	f.Add([]byte("abc"), []byte{}, []byte{})
	f.Add([]byte("16"), []byte("9"), []byte{0})
	// Weak client keys (shift 0 and 1), served by default.
	f.Add([]byte("0"), []byte("TIMEDATE"), []byte{4, 4})
	f.Add([]byte("256"), []byte("TIME"), []byte{4})
	f.Add([]byte("1"), unhex(f, "55 4a 4e 46 45 42 55 46"), []byte{4, 4})
	f.Fuzz(func(t *testing.T, key, stream, sizes []byte) {
		if len(key) == 0 || len(key) > MaxMessage || len(stream) > 4*MaxMessage {
			return
		}
		now := time.Date(2026, 11, 22, 11, 51, 6, 90880_000, time.Local)
		srv := newServer(t, withFixedTemp(testConfig(newExponents(7), now), 6), Env{})
		reads := cut(stream, sizes)
		for _, r := range reads {
			if len(r) > MaxMessage {
				return // the fuzzer's cut, not a legal single read
			}
		}
		mc := &memConn{reads: append([][]byte{key}, reads...)}
		err := srv.serve(context.Background(), mc)

		a, perr := ParseKey(key)
		if perr != nil {
			if len(mc.writes) != 0 || err == nil {
				t.Fatalf("key %q: writes %q, err %v", key, mc.writes, err)
			}
			return
		}
		// By default every parsable key is served, weak ones included (the
		// source only ever offers exponent 7, so a weak shift from a strong
		// key survives the re-draws too).
		k := SharedKey(a, 7)
		want := [][]byte{[]byte("146")}
		wantErr := false
		for _, r := range reads {
			cmd, cerr := ParseCommand(Decrypt(nil, r, k))
			if cerr != nil {
				wantErr = true
				break
			}
			resp := map[Command]string{CmdTime: "11:51:06.090880", CmdDate: "2026-11-22", CmdTemp: "6°C"}[cmd]
			if resp != "" {
				want = append(want, Encrypt(nil, []byte(resp), k))
			}
		}
		if len(mc.writes) != len(want) {
			t.Fatalf("%d writes, want %d: %q", len(mc.writes), len(want), mc.writes)
		}
		for i := range want {
			if !bytes.Equal(mc.writes[i], want[i]) {
				t.Fatalf("write %d = % x, want % x", i, mc.writes[i], want[i])
			}
		}
		if wantErr != errors.Is(err, ErrInvalidUTF8) || (!wantErr && err != nil) {
			t.Fatalf("err = %v, want invalid-utf8 %v", err, wantErr)
		}
	})
}

// FuzzParseKey checks the key parser never panics, stays in range, and
// agrees with exact arithmetic on plain decimal input.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"169", "137", " 169\n", "+169", "1_6_9", "0169", "١٦٩", "-88", "0", "256", "",
		"abc", "𝟏𝟔𝟗", "1__6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ParseKey(in)
		// big.Int accepts exactly "[+-]digits" in base 10, which int() does too.
		if n, ok := new(big.Int).SetString(string(in), 10); ok && len(in) <= MaxMessage {
			want := int(new(big.Int).Mod(n, big.NewInt(Prime)).Int64())
			if err != nil || v != want {
				t.Fatalf("ParseKey(%q) = %d, %v; want %d", in, v, err, want)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v is not ErrBadKey", err)
			}
			return
		}
		if v < 0 || v >= Prime {
			t.Fatalf("ParseKey(%q) = %d out of range", in, v)
		}
		if back, err := ParseKey(FormatKey(v)); err != nil || back != v {
			t.Fatalf("round trip of %d: %d, %v", v, back, err)
		}
	})
}

// FuzzParseCommand checks decrypt/encrypt are inverse for every key and that
// command parsing only accepts what a strip+upper reading accepts.
func FuzzParseCommand(f *testing.F) {
	f.Add(unhex(f, "27 1c 20 18"), 211)
	f.Add(unhex(f, "11 06 0a 02"), 189)
	f.Add([]byte("tıme"), 256)
	f.Add([]byte("\x1ctime\x1f"), 0)
	f.Add([]byte{0xff}, 3)
	f.Fuzz(func(t *testing.T, wire []byte, k int) {
		if len(wire) > MaxMessage {
			return
		}
		plain := Decrypt(nil, wire, k)
		if back := Encrypt(nil, plain, k); !bytes.Equal(back, wire) {
			t.Fatalf("E(D(x)) != x for key %d", k)
		}
		cmd, err := ParseCommand(plain)
		if err != nil {
			if !errors.Is(err, ErrInvalidUTF8) || cmd != CmdUnknown {
				t.Fatalf("err %v with %v", err, cmd)
			}
			return
		}
		if cmd != CmdUnknown {
			// Whatever was accepted is the command with only whitespace
			// and letter case around it.
			core := bytes.TrimFunc(plain, isPySpace)
			if !bytes.EqualFold(bytes.ReplaceAll(core, []byte("ı"), []byte("i")), []byte(cmd.String())) {
				t.Fatalf("%q accepted as %v", plain, cmd)
			}
		}
	})
}
