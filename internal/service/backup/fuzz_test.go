package backup

import (
	"bytes"
	"crypto/aes"
	"net"
	"strings"
	"testing"
	"time"
)

// Real frames from the original's worked session and vectors (docs/backup.md,
// "Worked example", "Test vectors").
func seedFrames(t testing.TB) [][]byte {
	name := "4d69636861656c204a61636b736f6e" + strings.Repeat("00", 240)
	hello := "68656c6c6f2e747874" + strings.Repeat("00", 246)
	return [][]byte{
		unhexT(t, strings.Repeat("00", 16)+"01"+"0104"+"ff000000"+name),
		unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0304"+"ff000000"+name),
		unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0404"+"23010000"+"20000000"+hello+
			"aa9b7044c629d21cc4823098ddbc4008c2918e229e3d86787f9fd0b6f9a40eed"),
		unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0504"+"ff000000"+hello),
		unhexT(t, "0123456789abcdef0123456789abcdef"+"01"+"0404"+"23010000"+"20000000"+hello+
			"5a6398b9e05a0a2186b510bda6d8f6c119e2da2922c0bc8cf2aa3ce7df18b66b"),
	}
}

func FuzzRequestHeader(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr[:RequestHeaderSize])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseRequestHeader(b)
		if len(b) != RequestHeaderSize {
			if err == nil {
				t.Fatal("wrong length accepted")
			}
			return
		}
		if err != nil || !bytes.Equal(AppendRequestHeader(nil, h), b) {
			t.Fatalf("round trip of %x: %+v %v", b, h, err)
		}
	})
}

func FuzzParseName(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr[RequestHeaderSize:min(len(fr), RequestHeaderSize+NameSize)])
	}
	f.Add([]byte("../evil.txt\x00"))
	f.Add([]byte("a\x00b\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseName(b)
		if err != nil {
			return
		}
		if s == "" || strings.ContainsRune(s, 0) || len(s) >= NameSize {
			t.Fatalf("%x parsed as %q", b, s)
		}
		fld, err := NameField(s)
		if err != nil {
			t.Fatalf("%q does not re-encode: %v", s, err)
		}
		if s2, err := ParseName(fld[:]); err != nil || s2 != s {
			t.Fatalf("round trip %q -> %q %v", s, s2, err)
		}
		if base, err := StoredFileName(s); err == nil {
			if strings.ContainsAny(base, "/\\") || base == ".." || base == "." || base == "" {
				t.Fatalf("%q stored as unsafe %q", s, base)
			}
		}
	})
}

// FuzzFilePayload drives the 1028 payload decoder (file header, streaming
// CRC, decryption and padding check) with a fixed key.
func FuzzFilePayload(f *testing.F) {
	for _, fr := range seedFrames(f) {
		if len(fr) > RequestHeaderSize+FileHeaderSize {
			f.Add(fr[RequestHeaderSize:])
		}
	}
	f.Add(make([]byte, FileHeaderSize+16))
	key := unhexT(f, "6642814857a998085a3c35ae871bd38b")
	block, _ := aes.NewCipher(key)
	s := &Server{cfg: DefaultConfig()}
	atRest := &Server{cfg: testConfig(func(c *Config) { c.EncryptAtRest = true })}
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < FileHeaderSize {
			return
		}
		fh, err := ParseFileHeader(p[:FileHeaderSize])
		if err != nil {
			t.Fatal(err)
		}
		body := p[FileHeaderSize:]
		size := int64(fh.ContentSize)
		if size > int64(len(body)) || size == 0 || size%16 != 0 {
			return
		}
		var out, ctOut bytes.Buffer
		n, crc, err := s.stream(bytes.NewReader(body), &out, block, size)
		want, werr := DecryptFile(key, body[:size])
		if (err == nil) != (werr == nil) {
			t.Fatalf("stream %v, whole %v", err, werr)
		}
		// At rest the ciphertext is stored and only the last block is
		// decrypted, for its padding: the verdict must be the same.
		n2, crc2, err2 := atRest.stream(bytes.NewReader(body), &ctOut, block, size)
		if (err2 == nil) != (werr == nil) {
			t.Fatalf("at-rest stream %v, whole %v", err2, werr)
		}
		if err != nil {
			return
		}
		if crc != CRC(body[:size]) || n != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("stream disagrees: n=%d crc=%08x", n, crc)
		}
		if crc2 != crc || n2 != size || !bytes.Equal(ctOut.Bytes(), body[:size]) {
			t.Fatalf("at-rest stream disagrees: n=%d crc=%08x", n2, crc2)
		}
	})
}

// FuzzServer sends arbitrary bytes to a live server: it must never panic
// (the env counts recovered panics) and any answer is a well-formed,
// version-3 frame with a protocol response code.
func FuzzServer(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Add(make([]byte, 10))
	f.Add(append(AppendRequestHeader(nil, RequestHeader{Code: CodePublicKey, PayloadSize: 300}), make([]byte, 300)...))
	e := newEnv(f, func(c *Config) { c.MaxFileSize = 1 << 16 })
	// The restore extension's frames, for a client with a stored file.
	c := e.newClient("fuzz")
	upload(f, c, "hello.txt", []byte("Hello, backup server!\n"))
	f.Add(request(c.ID, CodeList, nameField(f, "fuzz")))
	f.Add(request(c.ID, CodeRestore, RestoreRequest{Name: [NameSize]byte(nameField(f, "hello.txt"))}.Marshal()))
	f.Add(request(c.ID, CodeRestore, RestoreRequest{Name: [NameSize]byte(nameField(f, "hello.txt")), Version: 1, Offset: 16}.Marshal()))
	f.Fuzz(func(t *testing.T, msg []byte) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		conn.Write(msg)
		conn.(*net.TCPConn).CloseWrite()
		h, p, err := readResponse(conn)
		if err != nil {
			return
		}
		if h.Version != ServerVersion || h.Code < RespRegistered || h.Code > RespNotFound || int(h.PayloadSize) != len(p) {
			t.Fatalf("bad frame %+v for %x", h, msg)
		}
	})
}

// FuzzRestoreWire drives the restore extension's decoders (1033 request,
// 2109 header, 2108 listing) with frames from a real restore session as
// seeds: bounded, never panicking, and what they accept re-encodes to the
// same bytes.
func FuzzRestoreWire(f *testing.F) {
	e := newEnv(f)
	c := e.newClient("fuzzwire")
	upload(f, c, "a.txt", []byte("version one"))
	upload(f, c, "a.txt", []byte("version two, longer than a block"))
	l, err := c.List(ctx)
	if err != nil {
		f.Fatal(err)
	}
	_, res, err := restoreAll(f, c, "a.txt", 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(RestoreRequest{Name: [NameSize]byte(nameField(f, "a.txt")), Version: 2, Offset: 16}.Marshal())
	f.Add(res.Header.Marshal())
	f.Add(l.Marshal())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRestoreRequest(b); err == nil && !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("request %x re-encodes as %x", b, r.Marshal())
		}
		if h, err := ParseRestoreHeader(b); err == nil {
			if !bytes.Equal(h.Marshal(), b) || h.Offset >= h.CipherSize || h.CipherSize%16 != 0 {
				t.Fatalf("header %x accepted as %+v", b, h)
			}
		}
		if l, err := ParseListing(b); err == nil {
			if !bytes.Equal(l.Marshal(), b) || len(l.Entries) > len(b)/listEntryFixed {
				t.Fatalf("listing %x accepted as %+v", b, l)
			}
		}
	})
}
