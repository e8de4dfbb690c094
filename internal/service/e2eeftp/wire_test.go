package e2eeftp

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

// The fixed inputs of docs/e2eeftp.md, "Test vectors".
var (
	serverSeed  = bytes.Repeat([]byte{0x11}, 32)
	clientSeed  = bytes.Repeat([]byte{0x22}, 32)
	serverEphSK = bytes.Repeat([]byte{0x33}, 32)
	clientEphSK = bytes.Repeat([]byte{0x44}, 32)
)

const (
	vServerPub    = "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
	vClientPub    = "a09aa5f47a6759802ff955f8dc2d2a14a5c99d23be97f864127ff9383455a4f0"
	vClientEphPub = "ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b"
	vServerEphPub = "7b0d47d93427f8311160781c7c733fd89f88970aef490d8aa0ee19a4cb8a1b14"
	vClientHello  = "00000080" + vClientEphPub + vClientPub +
		"0a0683b8162545fb2d69788a44432ccaba8612663cd05cc5b7e09175f1b6c6d8" +
		"f90605e8dd291b6159eb522311f88101aaacc4bd23c6b4b2cd2fd7610066400e"
	vServerHello = "00000080" + vServerEphPub + vServerPub +
		"fdd8159f8a0523ab910e79784425c261f93c79bd486378be22de5039b91de3d4" +
		"5e960a5f11b55d3db2a0ac5b90ce6765550860e25de0df184707ea09994ab909"
	vShared = "3c528e9fd39731b15d10de8feb5f71d3f65b73c993581dedb03315a9ed177730"
	vAESKey = "331077c684516d2e1143a76cdbea4879cec2aa73384e99f0f7f0637631cad1f5"
	vMACKey = "5730c4470fbec918170bff348b879ec8c669a38b8df50d316b739615eadfffb2"

	vBlobHello = "55555555555555555555555555555555" + "7afddf1e55590a160dfd6d1d441ff492" +
		"c32cb008cd060be054c7dd12eea8a1e54e47fb626ac63a2590a56cd3a2bdaa93"
	vBlobEmpty = "55555555555555555555555555555555" + "d22399d6132b7f9e7db9eeb710a04d32" +
		"00483592d055b26c2ebe5ea7b547e4f9a463aee67b5a0245242561d4db205aa2"
	vBlob16 = "66666666666666666666666666666666" + "535d2b05923bca1f26e013c15b61d76f" +
		"e3b81b82aa82bc1fc2905e3ea5d9827bb5f080c60148bdd05780a2fe629afcfa" +
		"b9a80ad324e9389f2cd86502d559e700"
	vGetBody = "66666666666666666666666666666666" + "6b91bf17f0f26a3203f0adaa30c784e2" +
		"e39f96e07c64fa6dbfc728403a09bd24" + "98e7466ec946bdcbc618d1fcc8a9254e"

	vAuthorizedLine = "oJql9HpnWYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpPA="
	vKnownServer    = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=\n-----END PUBLIC KEY-----\n"
	vServerIDKey    = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBERERERERERERERERERERERERERERERERERERERERER\n-----END PRIVATE KEY-----\n"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func vectorKeys(t testing.TB) (srvID, cliID ed25519.PrivateKey, srvEph, cliEph *ecdh.PrivateKey) {
	t.Helper()
	srvID = ed25519.NewKeyFromSeed(serverSeed)
	cliID = ed25519.NewKeyFromSeed(clientSeed)
	var err error
	if srvEph, err = ecdh.X25519().NewPrivateKey(serverEphSK); err != nil {
		t.Fatal(err)
	}
	if cliEph, err = ecdh.X25519().NewPrivateKey(clientEphSK); err != nil {
		t.Fatal(err)
	}
	return
}

func vectorSessionKeys(t testing.TB) Keys {
	_, _, _, cliEph := vectorKeys(t)
	var peer [32]byte
	copy(peer[:], unhex(t, vServerEphPub))
	k, err := SessionKeys(cliEph, peer)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVectorHellos(t *testing.T) {
	t.Parallel()
	srvID, cliID, srvEph, cliEph := vectorKeys(t)
	if got := hex.EncodeToString(srvID.Public().(ed25519.PublicKey)); got != vServerPub {
		t.Fatalf("server pub %s", got)
	}
	ch := NewHello(cliID, cliEph.PublicKey())
	if got := hex.EncodeToString(ch.Marshal()); got != vClientHello {
		t.Fatalf("client hello\n got %s\nwant %s", got, vClientHello)
	}
	sh := NewHello(srvID, srvEph.PublicKey())
	if got := hex.EncodeToString(sh.Marshal()); got != vServerHello {
		t.Fatalf("server hello\n got %s\nwant %s", got, vServerHello)
	}
	for _, v := range []string{vClientHello, vServerHello} {
		h, err := ReadHello(bytes.NewReader(unhex(t, v)))
		if err != nil || !h.Verify() {
			t.Fatalf("parse/verify %s: %v", v[:16], err)
		}
		if !bytes.Equal(h.Marshal(), unhex(t, v)) {
			t.Fatal("round trip differs")
		}
	}
}

func TestVectorKeySchedule(t *testing.T) {
	t.Parallel()
	_, _, srvEph, cliEph := vectorKeys(t)
	shared, err := cliEph.ECDH(srvEph.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(shared) != vShared {
		t.Fatalf("shared %x", shared)
	}
	k := vectorSessionKeys(t)
	if hex.EncodeToString(k.AES[:]) != vAESKey || hex.EncodeToString(k.MAC[:]) != vMACKey {
		t.Fatalf("keys %x %x", k.AES, k.MAC)
	}
	// The server side derives the same keys.
	var peer [32]byte
	copy(peer[:], cliEph.PublicKey().Bytes())
	k2, err := SessionKeys(srvEph, peer)
	if err != nil || k2 != k {
		t.Fatalf("server keys differ: %v", err)
	}
}

func TestVectorBlobs(t *testing.T) {
	t.Parallel()
	k := vectorSessionKeys(t)
	cases := []struct {
		pt   string
		iv   byte
		want string
	}{
		{"hello world\n", 0x55, vBlobHello},
		{"", 0x55, vBlobEmpty},
		{"0123456789abcdef", 0x66, vBlob16},
		{"hello world\n", 0x66, vGetBody},
	}
	for _, c := range cases {
		got, err := k.SealBytes([]byte(c.pt), bytes.Repeat([]byte{c.iv}, 16))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != c.want {
			t.Errorf("seal %q iv %x\n got %x\nwant %s", c.pt, c.iv, got, c.want)
		}
		if int64(len(got)) != BlobLen(int64(len(c.pt))) {
			t.Errorf("BlobLen(%d) = %d, body %d", len(c.pt), BlobLen(int64(len(c.pt))), len(got))
		}
		pt, err := k.OpenBytes(unhex(t, c.want))
		if err != nil || string(pt) != c.pt {
			t.Errorf("open %q: %q %v", c.pt, pt, err)
		}
	}
	for n, want := range map[int64]int64{12: 64, 0: 64, 16: 80, 52428800: 52428864} {
		if got := BlobLen(n); got != want {
			t.Errorf("BlobLen(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	t.Parallel()
	k := vectorSessionKeys(t)
	good := unhex(t, vBlob16)
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		var out bytes.Buffer
		if _, err := k.Open(&out, bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipped byte %d: err %v", i, err)
		}
	}
	// Wrong lengths are ErrDecrypt after reading exactly that many bytes.
	for _, l := range []int64{0, 1, 48, 63, 65, 79} {
		r := bytes.NewReader(make([]byte, 100))
		if _, err := k.Open(io.Discard, r, l); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("len %d: %v", l, err)
		}
		if r.Len() != 100-int(l) {
			t.Fatalf("len %d: consumed %d", l, 100-r.Len())
		}
	}
	// A short body is an I/O error, not ErrDecrypt.
	if _, err := k.Open(io.Discard, bytes.NewReader(good[:50]), int64(len(good))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v", err)
	}
	// A valid tag over bad padding (built by hand with the session keys).
	for _, last := range []byte{0, 17, 0xff} {
		pt := make([]byte, 16)
		pt[15] = last
		pt[14] = 2 // also breaks "all pad bytes equal" for last=2 below
		body := forgeBody(t, k, pt)
		if _, err := k.OpenBytes(body); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("pad byte %d: %v", last, err)
		}
	}
	pt := make([]byte, 16)
	pt[15], pt[14] = 2, 3
	if _, err := k.OpenBytes(forgeBody(t, k, pt)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("inconsistent padding accepted: %v", err)
	}
	for n := 0; n <= 48; n++ {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		b, err := k.SealBytes(pt, bytes.Repeat([]byte{9}, 16))
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.OpenBytes(b)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}

func TestSealOpenStreamsLargeBodies(t *testing.T) {
	t.Parallel()
	k := vectorSessionKeys(t)
	for _, n := range []int{chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
		pt := make([]byte, n)
		for i := range pt {
			pt[i] = byte(i * 7)
		}
		b, err := k.SealBytes(pt, make([]byte, 16))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != BlobLen(int64(n)) {
			t.Fatalf("n=%d: len %d", n, len(b))
		}
		got, err := k.OpenBytes(b)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: round trip: %v", n, err)
		}
	}
	// Seal of a short reader fails.
	if err := k.Seal(io.Discard, strings.NewReader("abc"), 10, make([]byte, 16)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short reader: %v", err)
	}
}

// forgeBody encrypts already-padded blocks without adding padding.
func forgeBody(t *testing.T, k Keys, padded []byte) []byte {
	t.Helper()
	blk, err := aes.NewCipher(k.AES[:])
	if err != nil {
		t.Fatal(err)
	}
	iv := bytes.Repeat([]byte{7}, 16)
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(blk, iv).CryptBlocks(ct, padded)
	m := hmac.New(sha256.New, k.MAC[:])
	m.Write(iv)
	m.Write(ct)
	return append(append(iv, ct...), m.Sum(nil)...)
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestOpenWriteErrorKeepsStreamInStep(t *testing.T) {
	t.Parallel()
	k := vectorSessionKeys(t)
	pt := make([]byte, 3*chunk)
	b, _ := k.SealBytes(pt, make([]byte, 16))
	r := bytes.NewReader(append(b, "NEXT"...))
	_, err := k.Open(&failWriter{after: 1}, r, int64(len(b)))
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("want WriteError, got %v", err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "NEXT" {
		t.Fatalf("body not fully consumed: %q", rest)
	}
}

func TestLowOrderPointsRefused(t *testing.T) {
	t.Parallel()
	_, _, srvEph, _ := vectorKeys(t)
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for _, h := range lowOrder {
		var p [32]byte
		copy(p[:], unhex(t, h))
		if _, err := SessionKeys(srvEph, p); !errors.Is(err, ErrLowOrder) {
			t.Errorf("%s: %v", h[:8], err)
		}
	}
}

func TestReadHelloBounds(t *testing.T) {
	t.Parallel()
	good := unhex(t, vClientHello)
	// Any length but 128 is refused without reading further.
	for _, l := range []string{"00000000", "0000007f", "00000081", "ffffffff", "4c495354"} {
		b := append(unhex(t, l), good[4:]...)
		r := bytes.NewReader(b)
		if _, err := ReadHello(r); !errors.Is(err, ErrHelloLength) {
			t.Fatalf("length %s: %v", l, err)
		}
		if r.Len() != len(b)-4 {
			t.Fatalf("length %s: read past the prefix", l)
		}
	}
	if _, err := ReadHello(bytes.NewReader(good[:100])); err == nil {
		t.Fatal("short hello accepted")
	}
	h, _ := ParseHello(good)
	h.Signature[0] ^= 1
	if h.Verify() {
		t.Fatal("bad signature verified")
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string
		err  error
	}{
		{"LIST\n", "LIST", nil},
		{"LIST", "LIST", nil}, // EOF ends a line, as in the original
		{"\n", "", nil},
		{"", "", io.EOF},
		{strings.Repeat("a", MaxHeaderLine-1) + "\n", strings.Repeat("a", MaxHeaderLine-1), nil},
		{strings.Repeat("a", MaxHeaderLine) + "\n", "", ErrLineTooLong},
		{strings.Repeat("a", 10*MaxHeaderLine), "", ErrLineTooLong},
	}
	for _, c := range cases {
		got, err := ReadLine(bufio.NewReaderSize(strings.NewReader(c.in), 16), MaxHeaderLine)
		if !errors.Is(err, c.err) || (err == nil && string(got) != c.want) {
			t.Errorf("%.20q: got %.20q, %v", c.in, got, err)
		}
	}
	// The body after the line stays in the reader.
	r := bufio.NewReader(strings.NewReader("SEND|a|64\nBODY"))
	ReadLine(r, MaxHeaderLine)
	rest, _ := io.ReadAll(r)
	if string(rest) != "BODY" {
		t.Fatalf("rest %q", rest)
	}
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in     string
		cmd    string
		fields []string
		err    bool
	}{
		{"LIST", "LIST", nil, false},
		{"list", "LIST", nil, false},
		{"  hList \r", "HLIST", nil, false},
		{"GET|a|junk", "GET", []string{"a", "junk"}, false},
		{"GET| a b ", "GET", []string{" a b"}, false},
		{"SEND|a|b.txt|64", "SEND", []string{"a", "b.txt", "64"}, false},
		{"\x1c\tDELETE|x\x1f", "DELETE", []string{"x"}, false},
		{"", "", nil, false},
		{"\xff\xfe", "", nil, true},
		{"GET|\xed\xa0\x80", "", nil, true}, // UTF-8 surrogate: Python refuses it too
	}
	for _, c := range cases {
		r, err := ParseRequest([]byte(c.in))
		if (err != nil) != c.err {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if err != nil {
			continue
		}
		if r.Command != c.cmd || strings.Join(r.Fields, "/") != strings.Join(c.fields, "/") || len(r.Fields) != len(c.fields) {
			t.Errorf("%q: got %q %q", c.in, r.Command, r.Fields)
		}
	}
}

func TestParseSizeStrict(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{"0": 0, "64": 64, "0064": 64, "9223372036854775807": 1<<63 - 1} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("%q: %d %v", s, got, err)
		}
	}
	for _, s := range []string{"", "6_4", "+64", "-64", " 64", "64 ", "٦٤", "0x40", "9223372036854775808", "99999999999999999999", "abc"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"hello.txt", "café.txt", "b.bin", ".hidden", "a b", "x..y", strings.Repeat("a", MaxNameLen)} {
		if !ValidName(n) {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range []string{"", ".", "..", "../server_id.key", "/etc/passwd", "a/b", `..\x`, "a\x00b", "a\nb", "a\rb",
		".tmp-123", "a|b", "\u0085x", "\xff", strings.Repeat("a", MaxNameLen+1), " ", "t.txt ", "x\u202Etxt.exe", "a\u2066b"} {
		if ValidName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	code, text, err := ParseStatus([]byte("404|File not found: a|b "))
	if err != nil || code != 404 || text != "File not found: a|b" {
		t.Fatalf("%d %q %v", code, text, err)
	}
	for _, s := range []string{"", "20|x", "abc|x", "2000|x", "099|x"} {
		if _, _, err := ParseStatus([]byte(s)); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestKeyFilesMatchOriginalFormats(t *testing.T) {
	t.Parallel()
	srvID, cliID, _, _ := vectorKeys(t)
	pemPriv, err := MarshalPrivateKey(srvID)
	if err != nil || string(pemPriv) != vServerIDKey {
		t.Fatalf("server_id.key:\n%s", pemPriv)
	}
	pemPub, err := MarshalPublicKey(srvID.Public().(ed25519.PublicKey))
	if err != nil || string(pemPub) != vKnownServer {
		t.Fatalf("known_server.pub:\n%s", pemPub)
	}
	if got := AuthorizedLine(cliID.Public().(ed25519.PublicKey)); got != vAuthorizedLine {
		t.Fatalf("authorized line %s", got)
	}
	k, err := ParsePrivateKey([]byte(vServerIDKey))
	if err != nil || !k.Equal(srvID) {
		t.Fatalf("parse private: %v", err)
	}
	p, err := ParsePublicKey([]byte(vKnownServer))
	if err != nil || !p.Equal(srvID.Public()) {
		t.Fatalf("parse public: %v", err)
	}
	if _, err := ParsePrivateKey([]byte(vKnownServer)); err == nil {
		t.Fatal("public PEM parsed as private")
	}
}

func TestParseAuthorized(t *testing.T) {
	t.Parallel()
	in := "# alice\n" + vAuthorizedLine + "\n\n  \n#bob\n" +
		"oJql9Hpn WYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpPA=\n" + // mangled: the original accepted it
		"oJql9HpnWYAv+VX43C0qFKXJnSO+l/hkEn/5ODRVpA==\n" + // 31 bytes
		"  " + vAuthorizedLine + " \r\n"
	keys, bad := ParseAuthorized(strings.NewReader(in))
	if len(keys) != 2 || len(bad) != 2 {
		t.Fatalf("keys %d bad %d (%v)", len(keys), len(bad), bad)
	}
	if keys[0].Comment != "alice" || keys[0].Line != 2 || hex.EncodeToString(keys[0].Key[:]) != vClientPub {
		t.Fatalf("entry %+v", keys[0])
	}
}
