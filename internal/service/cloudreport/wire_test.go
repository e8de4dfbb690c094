package cloudreport

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/legacycrypto"
)

// docs/cloudreport.md, "Reference vectors", key derivation: every dictionary entry, IDs 5 and 9 included, for each host.
func TestSeedKeyTable(t *testing.T) {
	t.Parallel()
	ids := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0}
	table := map[string][]string{
		"127.0.0.1": {"D5F21121", "D5F2F121", "D5F2a121", "D5F2q121", "D5F2cNE-", "D5F2b121", "D5F2Y121", "D5F2M121", "D5F22NE-", "D5F29121", "D5F21121", "D5F21121"},
		"10.0.0.25": {"D5F21105", "D5F2F105", "D5F2a105", "D5F2q105", "D5F2cNE-", "D5F2b105", "D5F2Y105", "D5F2M105", "D5F22NE-", "D5F29105", "D5F21105", "D5F21105"},
		"DLUKAREV":  {"D5F21DLV", "D5F2FDLV", "D5F2aDLV", "D5F2qDLV", "D5F2cNE-", "D5F2bDLV", "D5F2YDLV", "D5F2MDLV", "D5F22NE-", "D5F29DLV", "D5F21DLV", "D5F21DLV"},
		"":          {"D5F21NE-", "D5F2FNE-", "D5F2aNE-", "D5F2qNE-", "D5F2cNE-", "D5F2bNE-", "D5F2YNE-", "D5F2MNE-", "D5F22NE-", "D5F29NE-", "D5F21NE-", "D5F21NE-"},
	}
	for host, want := range table {
		for i, id := range ids {
			// ParseInit maps out-of-range IDs to index 0, as the server does.
			a, err := ParseInit(Request{Cmd: "INIT", Tokens: []string{"ID=" + strconv.Itoa(id)}})
			if err != nil {
				t.Fatal(err)
			}
			if got := SeedKey("D5F2", a.Index, host); got != want[i] {
				t.Errorf("host %q id %d: key %s, want %s", host, id, got, want[i])
			}
			wantLen := 1
			if id == 9 {
				wantLen = 2
			}
			if KeyLen(a.Index) != wantLen {
				t.Errorf("id %d: LEN %d", id, KeyLen(a.Index))
			}
		}
	}
	if got := SeedKey("D5F2", 1, "x"); got != "D5F21NEx" {
		t.Errorf("host x: %s", got)
	}
	if got := SeedKey("D5F2", 5, "x"); got != "D5F2cNE-" {
		t.Errorf("host x id 5: %s", got)
	}
}

// docs/cloudreport.md, "Reference vectors", AES keys.
func TestMD5Keys(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"D5F21121": "6110fd96844f01f4ad9865f5de88d513",
		"D5F2F121": "3d93541df1aeda86b1cb1eff0cdee238",
		"D5F2cNE-": "17c0a79a012a476dec6f23c887948ed9",
		"D5F22NE-": "7ccb86d14f3bed9c58581cccf0626a52",
		"D5F2FDLV": "abf95bf49fedf08d2fe89c8062d513f6",
		"D5F21DLV": "ca89473f7503642202eb305acfde5bee",
	} {
		s := md5.Sum([]byte(key))
		if hex.EncodeToString(s[:]) != want {
			t.Errorf("md5(%s) = %x", key, s)
		}
	}
}

// docs/cloudreport.md, "Reference vectors" (payload codec, request → reply) and the worked
// example: the seed's ciphertexts decrypt to its plaintexts.
func TestSeedDecryptVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, wire, plain string }{
		{"D5F21121", "dqbxW8Rq+Wy7OPRJpcuQtA", "TT=Test"},
		{"D5F2cNE-", "Zqzx2690KknekRodlWO/5w", "TT=Test"},
		{"D5F22NE-", "ZOqY3k2KbMX71YSo9W5a1w", "TT=Test"},
		{"D5F21121", "UmP/mGwj3kMRgwsXoQ+v2g", ""},
		{"D5F21121", "nIwHN8UVpDVg8qFLM3oIzw", strings.Repeat("A", 100)},
		{"D5F2F121", "ynHQCC4ZRbS4h1fDS6XIEqIGFcKg7EVmzRIlOwiwkCjoIYIm7tMqa6dVGLC0uCMi1fW7aVR0K2tK3PlUxUw5CA",
			"TT=Test\r\nID=2\r\nEX=2026-01-01\r\nEN=1\r\nCD=2025-01-01\r\nCT=12:00:00"},
		{"D5F2F121", "V0p7SAJLu9F700nLzBpGPY1PXxqLQIb5zIsuYKphow74Ldl1SjsSuQMTckqwX5AaPa8hGT7x0Dq6rc9hun9Jxw",
			"TT=Test\r\nID=00003e3b\r\nFN=Firm\r\nHS=DLUKAREV"},
		{"D5F2F121", "ynHQCC4ZRbS4h1fDS6XIEiQffTulT2OIWkghd1xfnqG8ZwqZme5clfAIV5fwKS3RLMNn6mQvd/prf9+uTkdg2w",
			"TT=Test\r\nID=2\r\nEX=2027-11-22\r\nEN=1\r\nCD=2026-11-22\r\nCT=12:33:32"},
		{"D5F2F121", "dULyymsNV4Vqx5N5i63fja/ncBTgoUalkHJ91NI0UHs6eXInNpBlJ3fRJ7ccwNAPS62EP/N18332lkmAWgo04g",
			"TT=Test\r\nVER=1.0.0\r\nBUILD=100\r\nDATE=2026-11-22"},
		{"D5F2F121", "bWSkVn9SHMgBW+YZQFmOVZwOg6E6z8gSzJXXuNe+lhpTrKwowlhczugTepeYPyfDCJHT21LXEAwRs0N9PDZ/2JLlZH5nYYVTQ24BaFW2Xv0",
			"TT=Test\r\nSTATUS=NOFILES\r\nMESSAGE=No files available for download"},
	} {
		c := NewSeedCodec(tc.key, 0)
		for _, w := range []string{tc.wire, tc.wire + strings.Repeat("=", (4-len(tc.wire)%4)%4)} {
			got, err := c.Decrypt(w)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.key, w, err)
			}
			if string(got) != tc.plain {
				t.Fatalf("%s %s: %q, want %q", tc.key, w, got, tc.plain)
			}
		}
		// Go's zlib bytes differ from C zlib, so the encrypt direction is
		// checked by round trip.
		enc, _ := c.Encrypt([]byte(tc.plain))
		if strings.Contains(enc, "=") {
			t.Fatalf("encrypted text keeps '=' padding: %s", enc)
		}
		back, err := c.Decrypt(enc)
		if err != nil || string(back) != tc.plain {
			t.Fatalf("round trip %q: %q %v", tc.plain, back, err)
		}
	}
}

// docs/cloudreport.md, "Reference vectors", payload codec intermediates: Python's zlib bytes, padded, encrypt to the
// seed's ciphertext under MD5(key) and a zero IV.
func TestSeedCipherIntermediates(t *testing.T) {
	t.Parallel()
	padded, _ := hex.DecodeString("78da0b09b10d492d2e01000955028601")
	k := md5.Sum([]byte("D5F21121"))
	b, _ := aes.NewCipher(k[:])
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(b, make([]byte, 16)).CryptBlocks(ct, padded)
	if hex.EncodeToString(ct) != "76a6f15bc46af96cbb38f449a5cb90b4" {
		t.Fatalf("ciphertext %x", ct)
	}
}

func TestSeedDecryptFailures(t *testing.T) {
	t.Parallel()
	c := NewSeedCodec("D5F21121", 1000)
	good, _ := c.Encrypt([]byte("TT=Test"))
	other, _ := NewSeedCodec("D5F2F121", 0).Encrypt([]byte("TT=Test"))
	big, _ := c.Encrypt(bytes.Repeat([]byte("A"), 1001))
	for name, in := range map[string]string{
		"short":       "AAAA",
		"empty":       "",
		"dangling":    good[:len(good)-3] + "A",
		"not blocks":  good[:20],
		"wrong key":   other,
		"too large":   big,
		"bad padding": flipLast(good),
	} {
		if _, err := c.Decrypt(in); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: err %v, want ErrDecrypt", name, err)
		}
	}
}

func flipLast(s string) string {
	b, _ := legacycrypto.LenientBase64(s)
	b[len(b)-17] ^= 0x01 // flips the last plaintext byte (a pad byte)
	return base64.RawStdEncoding.EncodeToString(b)
}

func TestDelphiCodec(t *testing.T) {
	t.Parallel()
	for _, z := range []bool{true, false} {
		for _, h := range []legacycrypto.Hash{legacycrypto.SHA1, legacycrypto.MD5} {
			c, err := NewDelphiCodec("D5F2FDLV", h, z, 0)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := c.Encrypt([]byte("TT=Test\r\nID=00003e3b"))
			got, err := c.Decrypt(enc)
			if err != nil || string(got) != "TT=Test\r\nID=00003e3b" {
				t.Fatalf("zlib=%v %s: %q %v", z, h, got, err)
			}
		}
	}
	// Without zlib the profile is plain DCPcrypt EncryptString
	// (docs/cloudreport.md, "Reference vectors", Delphi / DCPcrypt).
	c, _ := NewDelphiCodec("D5F2FDLV", legacycrypto.SHA1, false, 0)
	if enc, _ := c.Encrypt([]byte("TT=Test")); enc != "UGaXqXH+ag==" {
		t.Fatalf("EncryptString(TT=Test) = %s", enc)
	}
	if got, err := c.Decrypt("UGaXqXH+ag"); err != nil || string(got) != "TT=Test" {
		t.Fatalf("decrypt without '=': %q %v", got, err)
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		cmd  string
		toks []string
		rest string
		ok   bool
	}{
		{"PING", "PING", nil, "", true},
		{"  ping \r", "PING", nil, "", true},
		{"Init ID=2 HST=X", "INIT", []string{"ID=2", "HST=X"}, "ID=2 HST=X", true},
		{"ERRL [Error]Unable to check  credentials\r", "ERRL", []string{"[Error]Unable", "to", "check", "credentials"}, "[Error]Unable to check  credentials", true},
		{"\t\x0b\x0c\x1c\x85\xa0", "", nil, "", false},
		{"", "", nil, "", false},
		{"\xe9t\xdf\xb5\xff", "\xc9TSS??", nil, "", true},
		{"a\xa0b", "A", []string{"b"}, "b", true},
	} {
		r, ok := ParseLine([]byte(tc.in))
		if ok != tc.ok || r.Cmd != tc.cmd || r.Rest != tc.rest || strings.Join(r.Tokens, "|") != strings.Join(tc.toks, "|") {
			t.Errorf("%q: got %+v %v", tc.in, r, ok)
		}
	}
	r, _ := ParseLine([]byte("INFO data=abc= DATA=xyz X"))
	if v, ok := r.Param("DATA"); !ok || v != "xyz" {
		t.Errorf("Param DATA = %q %v", v, ok)
	}
	r, _ = ParseLine([]byte("INFO DATA=abc="))
	if v, _ := r.Param("DATA"); v != "abc=" {
		t.Errorf("Param keeps text after the first '=': %q", v)
	}
}

// docs/cloudreport.md, "Session state": INIT ID parsing follows Python's int().
func TestParseInit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line string
		text string
		idx  int
		err  error
	}{
		{"INIT ID=2", "2", 2, nil},
		{"INIT ID=007", "7", 7, nil},
		{"INIT ID=-5", "-5", 0, nil},
		{"INIT ID=1_0", "10", 10, nil},
		{"INIT ID=1=2", "1", 1, nil},
		{"INIT ID=+7", "7", 7, nil},
		{"INIT ID=-0", "0", 0, nil},
		{"INIT ID=11", "11", 0, nil},
		{"INIT ID=99999999999999999999999", "99999999999999999999999", 0, nil},
		{"INIT ID=" + strings.Repeat("1", 4300), strings.Repeat("1", 4300), 0, nil},
		{"INIT ID=" + strings.Repeat("1", 4301), "", 0, ErrInitID},
		{"INIT ID=x", "", 0, ErrInitID},
		{"INIT ID=", "", 0, ErrInitID},
		{"INIT ID=1__0", "", 0, ErrInitID},
		{"INIT ID=_1", "", 0, ErrInitID},
		{"INIT ID=1_", "", 0, ErrInitID},
		{"INIT ID=+", "", 0, ErrInitID},
		{"INIT", "", 0, ErrInitFormat},
		{"INIT X=1", "", 0, ErrInitFormat},
		{"INIT id=1", "", 0, ErrInitFormat},
		{"INIT FOO=1 ID=2", "", 0, ErrInitFormat},
	} {
		r, _ := ParseLine([]byte(tc.line))
		a, err := ParseInit(r)
		if !errors.Is(err, tc.err) || (err == nil && (a.Text != tc.text || a.Index != tc.idx)) {
			t.Errorf("%.40q: %+v %v", tc.line, a, err)
		}
	}
	r, _ := ParseLine([]byte("INIT ID=2 DT=250411 TM=142807 HST=DLUKAREV ATP=EBOCloudReportApp.exe AVR=6.0.0.0"))
	if a, err := ParseInit(r); err != nil || a.HST != "DLUKAREV" || a.Index != 2 {
		t.Fatalf("real client INIT: %+v %v", a, err)
	}
}

// docs/cloudreport.md, "Reference vectors", reply helpers.
func TestFieldsFormatAndParse(t *testing.T) {
	t.Parallel()
	f := Fields{{"TT", "Test"}, {"ID", "2"}, {"EN", "1"}}
	if got := string(f.Format()); got != "TT=Test\r\nID=2\r\nEN=1" {
		t.Fatalf("format %q", got)
	}
	for _, tc := range []struct{ in, want string }{
		{"A=1\nB=2", "A=1|B=2"},
		{"A=1;B=2", "A=1|B=2"},
		{"A=1\r\nB\r\n C = 3 ", "A=1|C=3"},
		{"A=1;B=2\nC=3", "A=1;B=2|C=3"},
		{"noeq", ""},
	} {
		var parts []string
		for _, kv := range ParseFields([]byte(tc.in)) {
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("%q: %q want %q", tc.in, got, tc.want)
		}
	}
	if v, ok := ParseFields([]byte("TT=Test\r\nid=1\r\nID=2")).Get("ID"); !ok || v != "2" {
		t.Fatalf("Get: %q %v", v, ok)
	}
}

// docs/cloudreport.md, "Reference vectors": request → reply and reply helpers.
func TestReplyBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{string(initReply("D5F2", 1)), "200-KEY=D5F2\r\n200 LEN=1\r\n"},
		{string(initReply("D5F2", 2)), "200-KEY=D5F2\r\n200 LEN=2\r\n"},
		{string(dataReply(Seed, "XYZ")), "200 OK\r\nDATA=XYZ\r\n"},
		{string(dataReply(Delphi, "XYZ")), "200 DATA=XYZ\r\n"},
		{string(pongReply(Seed)), "PONG\r\n"},
		{string(pongReply(Delphi)), "200\r\n"},
		{string(okReply(Seed)), "200 OK\r\n"},
		{string(errorReply(Seed, failDecrypt, "")), "ERROR Failed to decrypt data\r\n"},
		{string(errorReply(Seed, failNotInit, "")), "ERROR Client not initialized. Send INIT command first.\r\n"},
		{string(errorReply(Seed, failInitFormat, "")), "ERROR Invalid INIT command format. Use: INIT ID=x\r\n"},
		{string(errorReply(Seed, failInitID, "x")), "ERROR Invalid client ID. Must be a number.\r\n"},
		{string(errorReply(Seed, failDuplicate, "4")), "ERROR Client ID 4 already connected. Please try again later.\r\n"},
		{string(errorReply(Seed, failUnknown, "FOO")), "ERROR Unknown command: FOO\r\n"},
		{string(errorReply(Delphi, failInitID, "12")), "501 Invalid client ID: 12\r\n"},
		{string(errorReply(Delphi, failUnknown, "EXIT")), "503 Unknown command: EXIT\r\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q want %q", tc.got, tc.want)
		}
	}
}

// indyParse is Indy's TIdReplyRFC reading (docs/cloudreport.md, "How an Indy
// client reads replies"): it returns the code,
// the text lines and the bytes left over after the end marker.
func indyParse(b []byte) (code string, text []string, rest []byte, ok bool) {
	for len(b) > 0 {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return "", nil, nil, false
		}
		l := string(b[:i])
		b = b[i+2:]
		if code == "" {
			code = strings.TrimSpace(l[:min(3, len(l))])
		}
		if len(l) > 4 {
			text = append(text, l[4:])
		}
		if len(l) < 4 || l[3] == ' ' {
			return code, text, b, true
		}
	}
	return "", nil, nil, false
}

// Every delphi reply is exactly one well-formed Indy reply with a numeric
// code, nothing left over (the seed's PONG / "200 OK"+"DATA=" are not).
func TestDelphiRepliesAreIndy(t *testing.T) {
	t.Parallel()
	replies := [][]byte{initReply("D5F2", 1), dataReply(Delphi, "abc"), pongReply(Delphi), okReply(Delphi), []byte("200 CMD=0 DATA=\r\n")}
	for f := failNotInit; f <= failInternal; f++ {
		replies = append(replies, errorReply(Delphi, f, "X"))
	}
	// The real captures of the original server (docs/cloudreport.md, "Reference vectors") parse too.
	replies = append(replies, []byte("200-KEY=30DF\r\n200 LEN=5\r\n"),
		[]byte("200 DATA=lPPuPlNlAjpgvBy6p35Syag92tQKXrP6M4SJY/CTsTvUonEg7e9wBb2rtXqL3W7oFjzq+T5N\r\n"))
	for _, r := range replies {
		code, _, rest, ok := indyParse(r)
		if !ok || len(rest) != 0 || len(code) != 3 || code < "100" || code > "999" {
			t.Errorf("%q: code %q ok %v rest %q", r, code, ok, rest)
		}
	}
	if _, _, rest, _ := indyParse(dataReply(Seed, "x")); len(rest) == 0 {
		t.Fatal("the seed's two-line data reply should leave a stray line for Indy")
	}
}

func TestAddYears(t *testing.T) {
	t.Parallel()
	leap := time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC)
	if got := AddYears(leap, 1); got.Format("2006-01-02") != "2029-02-28" {
		t.Fatalf("Feb 29 + 1y = %s", got)
	}
	if got := AddYears(leap, 4); got.Format("2006-01-02") != "2032-02-29" {
		t.Fatalf("Feb 29 + 4y = %s", got)
	}
	if got := AddYears(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 1); got.Format("2006-01-02") != "2027-11-22" {
		t.Fatalf("+1y = %s", got)
	}
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"app.exe", "EBOCloudReportApp-6.0.0.1.zip", "a_b"} {
		if !ValidUpdateName(n) {
			t.Errorf("%q rejected", n)
		}
	}
	for _, n := range []string{"", ".", "..", "../x", "a/b", `a\b`, ".hidden", "/etc/passwd", "a\x00", "é", strings.Repeat("a", 129), "C:x"} {
		if ValidUpdateName(n) {
			t.Errorf("%q accepted", n)
		}
	}
	if !ValidClientID("00003e3b") || ValidClientID("") || ValidClientID("a b") || ValidClientID(strings.Repeat("a", 65)) {
		t.Fatal("ValidClientID")
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	in := "PING\r\nVERS\n" + strings.Repeat("x", 100) + "\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16)
	var got []string
	for {
		l, err := readLine(br, 100)
		if err != nil {
			break
		}
		got = append(got, string(l))
	}
	if len(got) != 4 || got[0] != "PING\r" || got[1] != "VERS" || len(got[2]) != 100 || got[3] != "last" {
		t.Fatalf("lines %q", got)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 101)+"\n"), 16)
	if _, err := readLine(br, 100); !errors.Is(err, errLineTooLong) {
		t.Fatalf("long line: %v", err)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", 5000)), 16)
	if _, err := readLine(br, 100); !errors.Is(err, errLineTooLong) {
		t.Fatalf("long line without LF: %v", err)
	}
}

// Our zlib stream keeps the seed's 78 DA header and is a valid RFC 1950
// stream for the standard decoder, compressed or not.
func TestDeflateStream(t *testing.T) {
	t.Parallel()
	for _, p := range [][]byte{nil, []byte("TT=Test"), bytes.Repeat([]byte("TT=Test\r\n"), 5000)} {
		z := deflate(p)
		if z[0] != 0x78 || z[1] != 0xda {
			t.Fatalf("header %x", z[:2])
		}
		r, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(back, p) {
			t.Fatalf("inflate: %v", err)
		}
		if len(p) > 1000 && len(z) > len(p)/10 {
			t.Fatalf("%d bytes compressed to %d", len(p), len(z))
		}
	}
}

// Small payloads go out as one stored block, larger ones compressed; both
// must be standard zlib streams with the seed's 78 DA header.
func TestDeflateStoredAndCompressedAreZlib(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 100, storedMax - 1, storedMax, storedMax + 1, 70000} {
		plain := bytes.Repeat([]byte("TT=Test;ID=00003e3b;"), n/20+1)[:n]
		z := deflate(plain)
		if z[0] != 0x78 || z[1] != 0xda {
			t.Fatalf("%d bytes: header % x", n, z[:2])
		}
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: round trip %v", n, err)
		}
		if back, err := inflate(z, n+1); err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("%d bytes: inflate %v", n, err)
		}
		if stored := n <= storedMax; stored != (len(z) == n+11) {
			t.Fatalf("%d bytes: stored=%v but stream is %d bytes", n, stored, len(z))
		}
	}
}
