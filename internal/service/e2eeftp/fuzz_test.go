package e2eeftp

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzReadHello(f *testing.F) {
	for _, v := range []string{vClientHello, vServerHello} {
		b, _ := hex.DecodeString(v)
		f.Add(b)
		f.Add(b[:70])
		f.Add(append(b, "LIST\n"...))
	}
	f.Add([]byte("LIST\n"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0x90})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := ReadHello(r)
		if consumed := len(in) - r.Len(); consumed > HelloLen {
			t.Fatalf("read %d bytes", consumed)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(h.Marshal(), in[:HelloLen]) {
			t.Fatal("round trip differs")
		}
		if h.Verify() {
			// Only a genuine signature verifies; the seeds carry two.
			if v := hex.EncodeToString(in[:HelloLen]); v != vClientHello && v != vServerHello {
				var zero [32]byte
				if h.Identity == zero {
					t.Fatal("all-zero identity verified")
				}
			}
		}
		_, _ = SessionKeys(mustEph(t), h.Ephemeral)
	})
}

func mustEph(t *testing.T) *ecdh.PrivateKey {
	k, err := newEphemeral(bytes.NewReader(serverEphSK))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"SEND|hello.txt|64\n", "GET|hello.txt\n", "LIST\n", "LIST", "DELETE|hello.txt\n", "HLIST\n", "hlist\r\n",
		"SEND|u.txt|6_4\n", "SEND|x\n", "GET|\n", "GET\n", "\xff\xfe\n", "FOO|bar\n", "\n", "S_SESSION|a\n",
		"GET|../server_id.key\n", "SEND|a|b.txt|64\n", "  get|a b |junk\t\n", "SEND|x|٦٤\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		line, err := ReadLine(bufio.NewReaderSize(bytes.NewReader(in), 16), MaxHeaderLine)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(line) >= MaxHeaderLine || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("bad line %q", line)
		}
		req, err := ParseRequest(line)
		if err != nil {
			if utf8.Valid(line) {
				t.Fatal("valid UTF-8 refused")
			}
			return
		}
		if strings.ContainsRune(req.Command, '|') {
			t.Fatal("command contains a separator")
		}
		for _, fld := range req.Fields {
			if strings.ContainsRune(fld, '|') {
				t.Fatal("field contains a separator")
			}
			if ValidName(fld) && (strings.ContainsAny(fld, "/\\\x00") || fld == ".." || fld == ".") {
				t.Fatalf("unsafe name accepted: %q", fld)
			}
			if n, err := ParseSize(fld); err == nil && (n < 0 || strings.Trim(fld, "0123456789") != "") {
				t.Fatalf("bad size accepted: %q", fld)
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	for _, v := range []string{vBlobHello, vBlobEmpty, vBlob16, vGetBody} {
		b, _ := hex.DecodeString(v)
		f.Add(b, int64(len(b)))
	}
	f.Add([]byte("short"), int64(64))
	f.Add(make([]byte, 80), int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, size int64) {
		if size > 1<<20 {
			size %= 1 << 20
		}
		k := vectorSessionKeys(t)
		var out bytes.Buffer
		r := bytes.NewReader(body)
		n, err := k.Open(&out, r, size)
		if consumed := int64(len(body) - r.Len()); size >= 0 && consumed > size {
			t.Fatalf("read %d of %d", consumed, size)
		}
		if err == nil {
			if n != int64(out.Len()) || n > PlainLenMax(size) {
				t.Fatalf("n=%d out=%d size=%d", n, out.Len(), size)
			}
			// Anything that verifies re-seals to the same body.
			again, _ := k.SealBytes(out.Bytes(), body[:16])
			if !bytes.Equal(again, body[:size]) {
				t.Fatal("verified body does not re-seal identically")
			}
		}
	})
}

// FuzzReadListing feeds the client's LIST/HLIST reader arbitrary server
// bytes, seeded with the original's and Gatehouse's replies: it never
// panics, never accepts a body shorter than announced or over the bound,
// and returns exactly the body's names.
func FuzzReadListing(f *testing.F) {
	for _, s := range []string{
		"200|15\nb.bin\nhello.txt", "200|0\n", "200|20\ncaf\xc3\xa9.txt\nu.txt\nb.bin",
		"200|21\nb.bin\ncaf\xc3\xa9.txt\nu.txt", "200|26\nSEND\nGET\nLIST\nDELETE\nHLIST",
		"200|5\n400|Malformed request\n", "200|30\nb.bin", "404|File not found\n", "200|-1\n", "200\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		names, err := readListing(bufio.NewReader(bytes.NewReader(reply)))
		if err != nil {
			return
		}
		head, body, ok := bytes.Cut(reply, []byte("\n"))
		if !ok {
			head, body = reply, nil
		}
		code, text, perr := ParseStatus(head)
		n, serr := ParseSize(text)
		if perr != nil || code != 200 || serr != nil || int64(len(body)) < n {
			t.Fatalf("accepted %q", reply)
		}
		if got := strings.Join(names, "\n"); got != string(body) {
			t.Fatalf("names %q from body %q", names, body)
		}
	})
}
