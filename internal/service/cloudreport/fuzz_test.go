package cloudreport

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"strings"
	"testing"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc/netsvctest"
)

// Real frames of the seed and the original (docs/cloudreport.md, "Reference vectors").
var realFrames = []string{
	"PING\r\n",
	"INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0\r\n",
	"INFO DATA=V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw\r\n",
	"VERS\r\n",
	"ERRL [Error]Unable to check credentials\r\n",
	"ERRL [Error]Unable to initizlize communication! Terminate connection\r\n",
	"DWNL F=x\r\n",
	"GREQ\r\n",
	"INFO DATA=AAAA\r\n",
	"INIT ID=1_0\n",
	"INIT ID=1=2\r\n",
	"SRSP CMD=1 DATA=x\r\n",
	"\xff\xfe\r\n",
	"\r\n",
}

// FuzzLineParser drives the framing and the request parser with arbitrary
// bytes split at arbitrary reads: no panic, lines stay within the limit,
// parsing is stable.
func FuzzLineParser(f *testing.F) {
	for _, fr := range realFrames {
		f.Add([]byte(fr), uint8(7))
	}
	f.Add([]byte(strings.Join(realFrames, "")), uint8(16))
	f.Fuzz(func(t *testing.T, in []byte, bufSize uint8) {
		const max = 256
		br := bufio.NewReaderSize(bytes.NewReader(in), int(bufSize)+16)
		for i := 0; i <= len(in); i++ {
			line, err := readLine(br, max)
			if err != nil {
				if !errors.Is(err, errLineTooLong) && err.Error() != "EOF" {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(line) > max || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("line of %d bytes / with LF: %q", len(line), line)
			}
			r, ok := ParseLine(line)
			if !ok {
				if len(strip(line)) != 0 {
					t.Fatalf("non-empty line %q reported empty", line)
				}
				continue
			}
			if r.Cmd == "" || strings.ContainsAny(r.Cmd, " \t\r\n") {
				t.Fatalf("bad command %q from %q", r.Cmd, line)
			}
			r.Param("DATA")
			if a, err := ParseInit(r); err == nil {
				if a.Index < 0 || a.Index > 10 {
					t.Fatalf("index %d", a.Index)
				}
				_ = SeedKey(DefaultServerKey, a.Index, "127.0.0.1")
				if a.HST != "" && a.Index > 0 {
					_ = DelphiKey(DefaultServerKey, a.Index, KeyLen(a.Index), a.HST)
				}
			}
			// Parsing the same line twice gives the same request.
			r2, _ := ParseLine(line)
			if r2.Cmd != r.Cmd || r2.Rest != r.Rest || len(r2.Tokens) != len(r.Tokens) {
				t.Fatalf("unstable parse of %q", line)
			}
		}
	})
}

// FuzzDataDecoder feeds DATA text to both codecs: no panic, output bounded
// by MaxInflate, and whatever decrypts re-encrypts to text that decrypts to
// the same plaintext.
func FuzzDataDecoder(f *testing.F) {
	for _, s := range []string{
		"V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw",
		"ynHQCC4ZRbS4h1fDS6XIEiQffTulT2OIWkghd1xfnqG8ZwqZme5clfAIV5fwKS3RLMNn6mQvd/prf9+uTkdg2w",
		"dqbxW8Rq+Wy7OPRJpcuQtA",
		"UmP/mGwj3kMRgwsXoQ+v2g",
		"nIwHN8UVpDVg8qFLM3oIzw",
		"lPPuPlNlAjpgvBy6p35Syag92tQKXrP6M4SJY/CTsTvUonEg7e9wBb2rtXqL3W7oFjzq+T5N",
		"UGaXqXH+ag==",
		"AAAA",
		"",
	} {
		f.Add(s, "D5F2F121")
		f.Add(s, "D5F21121")
	}
	// A zlib bomb: 1 MiB of zeros compresses to about 1 KiB.
	bomb, _ := NewSeedCodec("D5F21121", 0).Encrypt(make([]byte, 1<<20))
	f.Add(bomb, "D5F21121")
	f.Fuzz(func(t *testing.T, data, key string) {
		const limit = 4096
		seed := NewSeedCodec(key, limit)
		delphi, err := NewDelphiCodec(key, legacycrypto.SHA1, true, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []Codec{seed, delphi} {
			p, err := c.Decrypt(data)
			if err != nil {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("error %v is not ErrDecrypt", err)
				}
				continue
			}
			if len(p) > limit {
				t.Fatalf("%d bytes past the %d limit", len(p), limit)
			}
			ParseFields(p)
			enc, _ := c.Encrypt(p)
			back, err := c.Decrypt(enc)
			if err != nil || !bytes.Equal(back, p) {
				t.Fatalf("round trip of %q: %q %v", p, back, err)
			}
		}
	})
}

func TestDelphiWrongKeyFails(t *testing.T) {
	t.Parallel()
	a, _ := NewDelphiCodec("D5F2FDLV", legacycrypto.SHA1, true, 0)
	b, _ := NewDelphiCodec("D5F2FDLX", legacycrypto.SHA1, true, 0)
	enc, _ := a.Encrypt([]byte("TT=Test\r\nID=00003e3b\r\nFN=Firm\r\nHS=DLUKAREV"))
	if _, err := b.Decrypt(enc); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := a.Decrypt("AAAA"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestZlibBombBounded(t *testing.T) {
	t.Parallel()
	c := NewSeedCodec("D5F21121", 0)
	bomb, _ := c.Encrypt(make([]byte, 4<<20))
	if len(bomb) > 16<<10 {
		t.Fatalf("bomb is %d bytes; should fit a request line", len(bomb))
	}
	if _, err := c.Decrypt(bomb); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("4 MiB inflate accepted with a 1 MiB limit: %v", err)
	}
}

// Benchmarks for the seed's baseline workloads (docs/cloudreport.md,
// "Benchmark method"): lock-step PING and
// INFO round trips over loopback through the Go client.
func benchSession(b *testing.B) *Client {
	b.Helper()
	db := benchStore(b)
	srv, err := New(DefaultConfig(), Env{Registry: db})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	_, addr := netsvctest.Start(b, "cloudreport", srv, netsvctest.DefaultLimits)
	c, err := Dial(context.Background(), addr, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Init(2); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkPingRoundTrip(b *testing.B) {
	c := benchSession(b)
	b.ResetTimer()
	for b.Loop() {
		if err := c.Ping(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInfoRoundTrip(b *testing.B) {
	c := benchSession(b)
	req := Fields{{"ID", "0000abcd"}, {"HS", "BENCHHOST"}}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Info(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeedCodec(b *testing.B) {
	c := NewSeedCodec("D5F2F121", 0)
	p := []byte("TT=Test\r\nID=0000abcd\r\nHS=BENCHHOST")
	for b.Loop() {
		enc, _ := c.Encrypt(p)
		if _, err := c.Decrypt(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzInflate holds inflate to its promise: it accepts exactly what
// compress/zlib's reader read to EOF accepts, with the same output, and
// fails past the limit. The seeds cover the stored-block path (one and
// several stored blocks, empty, truncated, a bad NLEN, past the limit)
// and its hand-over to the flate reader (a stored block then a compressed
// one, level 9 streams).
func FuzzInflate(f *testing.F) {
	z9 := func(p []byte) []byte {
		var b bytes.Buffer
		w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
		w.Write(p)
		w.Close()
		return b.Bytes()
	}
	payload := []byte("TT=Test\r\nID=00003e3b\r\nFN=Firm\r\nHS=DLUKAREV")
	stored := deflate(payload)
	twoBlocks := []byte{0x78, 0xda, 0x00, 3, 0, 0xfc, 0xff, 'T', 'T', '=', 0x01, 4, 0, 0xfb, 0xff, 'T', 'e', 's', 't'}
	twoBlocks = binary.BigEndian.AppendUint32(twoBlocks, adler32.Checksum([]byte("TT=Test")))
	// A stored block, then the rest as a final fixed-Huffman block.
	mixed := []byte{0x78, 0xda, 0x00, 3, 0, 0xfc, 0xff, 'T', 'T', '='}
	var fb bytes.Buffer
	fw, _ := flate.NewWriter(&fb, flate.BestCompression)
	fw.Write([]byte("Test"))
	fw.Close()
	mixed = append(mixed, fb.Bytes()...)
	mixed = binary.BigEndian.AppendUint32(mixed, adler32.Checksum([]byte("TT=Test")))
	badNLEN := bytes.Clone(stored)
	badNLEN[5] ^= 1
	for _, z := range [][]byte{stored, twoBlocks, mixed, badNLEN, stored[:len(stored)-5], stored[:7],
		deflate(nil), z9(payload), z9(bytes.Repeat(payload, 200)), deflate(bytes.Repeat(payload, 200)), {0x78, 0xda}} {
		f.Add(z, 4096)
		f.Add(z, 20)
	}
	f.Fuzz(func(t *testing.T, z []byte, limit int) {
		limit = 1 + abs(limit)%8192
		var want []byte
		var wantErr error
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err == nil {
			want, err = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
			if err == nil && len(want) > limit {
				err = errors.New("past the limit")
			}
		}
		wantErr = err
		b := getCodecBuf()
		defer putCodecBuf(b)
		got, err := b.inflate(z, limit)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("inflate %x (limit %d): err %v, zlib's %v", z, limit, err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("inflate %x: %q, zlib's %q", z, got, want)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
