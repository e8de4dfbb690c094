package backup

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"gatehouse/internal/legacycrypto"
)

// docs/backup.md, "Test vectors": pack_response_header of the original, version 3.
func TestGoldenResponseHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code uint16
		size uint32
		hex  string
	}{
		{2100, 16, "03340810000000"}, {2101, 0, "03350800000000"}, {2102, 144, "03360890000000"},
		{2103, 279, "03370817010000"}, {2104, 0, "03380800000000"}, {2105, 144, "03390890000000"},
		{2106, 0, "033a0800000000"}, {2107, 0, "033b0800000000"},
	} {
		got := hex.EncodeToString(AppendResponseHeader(nil, ResponseHeader{Version: ServerVersion, Code: tc.code, PayloadSize: tc.size}))
		if got != tc.hex {
			t.Errorf("%d/%d: %s, want %s", tc.code, tc.size, got, tc.hex)
		}
		h, err := ParseResponseHeader(unhexT(t, tc.hex))
		if err != nil || h.Code != tc.code || h.PayloadSize != tc.size || h.Version != 3 {
			t.Errorf("parse %s: %+v %v", tc.hex, h, err)
		}
	}
}

// docs/backup.md, "Test vectors": ParseRequestManager on the "Michael Jackson" register request.
func TestGoldenRequestHeader(t *testing.T) {
	t.Parallel()
	b := unhexT(t, "00000000000000000000000000000000"+"01"+"0104"+"ff000000")
	h, err := ParseRequestHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.ClientID != (ClientID{}) || h.Version != 1 || h.Code != CodeRegister || h.PayloadSize != 255 {
		t.Fatalf("%+v", h)
	}
	if got := AppendRequestHeader(nil, h); !bytes.Equal(got, b) {
		t.Fatalf("re-encoded %x", got)
	}
	// 1028 is a byte palindrome, so the C++ client's big-endian code is fine.
	h2, _ := ParseRequestHeader(unhexT(t, "0123456789abcdef0123456789abcdef"+"01"+"0404"+"23010000"))
	if h2.Code != CodeFile || h2.PayloadSize != 291 {
		t.Fatalf("%+v", h2)
	}
	if _, err := ParseRequestHeader(b[:22]); err == nil {
		t.Fatal("short header accepted")
	}
}

// The name validator vectors (docs/backup.md, "Test vectors"), plus the stricter rules.
func TestParseName(t *testing.T) {
	t.Parallel()
	pad := func(s string, n int) []byte { return append([]byte(s), make([]byte, n-len(s))...) }
	ok := map[string][]byte{
		"bob":             pad("bob", 255),
		"Michael Jackson": pad("Michael Jackson", 255),
		"short":           pad("short", 10), // the original accepted short fields
	}
	for want, f := range ok {
		got, err := ParseName(f)
		if err != nil || got != want {
			t.Errorf("%q: %q %v", f, got, err)
		}
	}
	bad := map[string]struct {
		f   []byte
		err error
	}{
		"all NUL":       {make([]byte, 255), ErrNameEmpty},
		"empty":         {nil, ErrNameEmpty},
		"256 bytes":     {pad("x", 256), ErrNameTooLong},
		"255 A":         {bytes.Repeat([]byte("A"), 255), ErrNameNoNUL},
		"garbage after": {pad("a\x00b", 255), ErrNameGarbage},
		"control":       {pad("a\nb", 255), ErrNameEncoding},
		"not utf8":      {pad("\xff\xfe", 255), ErrNameEncoding},
	}
	for what, tc := range bad {
		if _, err := ParseName(tc.f); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", what, err, tc.err)
		}
	}
	if _, err := NameField(strings.Repeat("x", 255)); err == nil {
		t.Error("255-byte name leaves no room for the NUL")
	}
	f, err := NameField(strings.Repeat("x", 254))
	if err != nil || f[254] != 0 {
		t.Errorf("254-byte name: %v", err)
	}
}

func TestStoredFileName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"hello.txt": "hello.txt", "src/client.cpp": "client.cpp", "/etc/passwd": "passwd",
		`C:\Users\me\a.txt`: "a.txt", "a..b": "a..b", ".hidden": ".hidden",
		"../notes.txt": "notes.txt", "a/../b": "b", `..\x`: "x", "../../etc/passwd": "passwd", ".tmp-x": ".tmp-x",
		"..notes": "..notes",
	} {
		if got, err := StoredFileName(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "..", "../..", "a/..", `a\..`, "dir/", `dir\`, ".", "a/.", "a\x00b", "a\tb", "\xff", strings.Repeat("n", 255)} {
		if got, err := StoredFileName(in); err == nil {
			t.Errorf("%q accepted as %q", in, got)
		}
	}
}

func TestClientIDText(t *testing.T) {
	t.Parallel()
	id := ClientID(unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"))
	if s := id.String(); s != "1f93925f-86d8-432a-ad42-d24db9eb1a27" {
		t.Fatal(s)
	}
	for _, s := range []string{"1f93925f-86d8-432a-ad42-d24db9eb1a27", "1F93925F86D8432AAD42D24DB9EB1A27"} {
		got, err := ParseClientID(s)
		if err != nil || got != id {
			t.Errorf("%s: %x %v", s, got, err)
		}
	}
	for _, s := range []string{"", "1f93925f", "zz93925f-86d8-432a-ad42-d24db9eb1a27", "1f93925f-86d8-432a-ad42-d24db9eb1a2700"} {
		if _, err := ParseClientID(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// CRC-32/IEEE vectors (docs/backup.md, "Test vectors"); POSIX cksum would give 930766865 for 123456789.
func TestCRCVectors(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint32{
		"": 0, "a": 0xe8b7be43, "123456789": 0xcbf43926,
		"The quick brown fox jumps over the lazy dog": 0x414fa339,
	} {
		if got := CRC([]byte(in)); got != want {
			t.Errorf("crc32(%q) = %08x, want %08x", in, got, want)
		}
	}
	if CRC([]byte("123456789")) == 930766865 {
		t.Error("this is the cksum CRC")
	}
}

// docs/backup.md, "Test vectors" and "Worked example": the AES-CBC zero-IV vectors, and the CRC over the
// ciphertext (not the plaintext).
func TestGoldenFileCrypto(t *testing.T) {
	t.Parallel()
	plain := []byte("Hello, backup server!\n")
	for _, tc := range []struct {
		key, ct string
		crc     uint32
	}{
		{"00112233445566778899aabbccddeeff", "5a6398b9e05a0a2186b510bda6d8f6c119e2da2922c0bc8cf2aa3ce7df18b66b", 0x105b7599},
		{"6642814857a998085a3c35ae871bd38b", "aa9b7044c629d21cc4823098ddbc4008c2918e229e3d86787f9fd0b6f9a40eed", 0x37f595ee},
	} {
		key, ct := unhexT(t, tc.key), unhexT(t, tc.ct)
		got, err := EncryptFile(key, plain)
		if err != nil || !bytes.Equal(got, ct) {
			t.Errorf("encrypt: %x %v, want %s", got, err, tc.ct)
		}
		pt, err := DecryptFile(key, ct)
		if err != nil || !bytes.Equal(pt, plain) {
			t.Errorf("decrypt: %q %v", pt, err)
		}
		if c := CRC(ct); c != tc.crc {
			t.Errorf("crc %08x, want %08x", c, tc.crc)
		}
	}
	if CRC(plain) != 0xe9d9473f {
		t.Error("plaintext CRC vector")
	}
}

func TestPKCS7(t *testing.T) {
	t.Parallel()
	blk := func(data string, pad byte, n int) []byte {
		b := []byte(data)
		for range n {
			b = append(b, pad)
		}
		return b
	}
	good := map[int][]byte{
		15: blk("0123456789abcde", 1, 1),
		0:  blk("", 16, 16),
		10: blk("0123456789", 6, 6),
	}
	for want, b := range good {
		if n, err := PKCS7Unpad(b); err != nil || n != want {
			t.Errorf("%x: %d %v, want %d", b, n, err, want)
		}
	}
	for _, b := range [][]byte{
		blk("0123456789abcde", 0, 1),                // the original turned pad 0 into an empty file
		blk("0123456789abcde", 17, 1),               // out of range
		append(blk("0123456789", 6, 5), 6-1+1+0x10), // wrong last byte
		append([]byte("0123456789ab"), 9, 4, 4, 4),  // one pad byte differs
		[]byte("short"),
	} {
		if n, err := PKCS7Unpad(b); err == nil {
			t.Errorf("%x accepted (%d)", b, n)
		}
	}
	for n := range 40 {
		p := legacycrypto.PKCS7Pad(bytes.Repeat([]byte{7}, n))
		if len(p)%16 != 0 || int64(len(p)) != CiphertextSize(int64(n)) {
			t.Errorf("pad %d: %d bytes", n, len(p))
		}
	}
}

// docs/backup.md, "Keys and encryption": the worked example's public key is the 160-byte SPKI of an
// RSA-1024 e=17 key, and our generated keys encode the same way.
func TestGoldenPublicKey(t *testing.T) {
	t.Parallel()
	const spki = "30819d300d06092a864886f70d010101050003818b0030818702818100" +
		"ae797f963b519d5782bade8b6245dd18dfc68d757df7833253b5c22fbe8f9fa9" +
		"8aa07e3a9b74669b0962fc8b31595207053e2a196fb8f96a6f8076e3010e8653" +
		"7e789f611b97312e7c55e7ecc466e3993a988dd9104cd8c686ca6cfc9ee62a8a" +
		"e2c5e3ca2afc4e0df9a712dd5a66bb4b8809d3ea6b7d5c1a4582b9b97350885f" + "020111"
	der := unhexT(t, spki)
	if len(der) != LegacyKeySize {
		t.Fatalf("%d bytes", len(der))
	}
	pub, err := ParsePublicKey(der)
	if err != nil || pub.E != 17 || pub.N.BitLen() != 1024 {
		t.Fatalf("%v %v", pub, err)
	}
	if blob, err := WrapKey(nil, pub, make([]byte, 16)); err != nil || len(blob) != OAEPBlobSize {
		t.Fatalf("wrapping with the worked example's key: %d bytes, %v", len(blob), err)
	}
	k := sharedKey(t)
	mine, _ := (&Client{Key: k}).PublicKeyDER()
	if len(mine) != LegacyKeySize || !bytes.HasPrefix(mine, der[:29]) || !bytes.HasSuffix(mine, []byte{2, 1, 0x11}) {
		t.Fatalf("generated key SPKI %x", mine)
	}
	aesKey := unhexT(t, "6642814857a998085a3c35ae871bd38b")
	w1, err := WrapKey(randReader{}, &k.PublicKey, aesKey)
	if err != nil || len(w1) != OAEPBlobSize {
		t.Fatalf("wrap: %d %v", len(w1), err)
	}
	w2, _ := WrapKey(randReader{}, &k.PublicKey, aesKey)
	if bytes.Equal(w1, w2) {
		t.Error("OAEP is deterministic")
	}
	for _, w := range [][]byte{w1, w2} {
		got, err := UnwrapKey(k, w)
		if err != nil || !bytes.Equal(got, aesKey) {
			t.Fatalf("unwrap: %x %v", got, err)
		}
	}
	// Keys the service must refuse before storing anything (docs/backup.md,
	// "Request codes the client depends on"; flaw 16 in "Original flaws").
	for what, b := range map[string][]byte{
		"random 160 bytes": bytes.Repeat([]byte{0x42}, 160),
		"empty":            nil,
		"truncated":        der[:100],
		"too large":        make([]byte, MaxKeySize+1),
	} {
		if _, err := ParsePublicKey(b); err == nil {
			t.Errorf("%s accepted", what)
		}
	}
	var _ *rsa.PublicKey = pub
}
