package legacycrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"testing"
)

// The genuine registration pair of the original server (docs/cloudreport.md,
// "Reference vectors", Delphi / DCPcrypt):
// it decrypts under exactly DCPcrypt's SHA-1 key, E_K(FF…) IV and CFB-8.
func TestDCPRegistrationVector(t *testing.T) {
	c, err := NewDCPCipher([]byte("141298787"), SHA1)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := DCPKey([]byte("141298787"), SHA1)
	if got, want := hex.EncodeToString(k), "84512f86713b105be5e5fb53f776dddbb39206f500000000"; got != want {
		t.Fatalf("key = %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(c.IV()), "1f5b0efd6894da8bfb32f706da0465be"; got != want {
		t.Fatalf("iv = %s, want %s", got, want)
	}
	pt, err := c.DecryptString("BszXj0gTaKILS6Ap56==")
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "ElCloudRepSrv" {
		t.Fatalf("plaintext = %q", pt)
	}
	if got := c.EncryptString([]byte("ElCloudRepSrv")); got != "BszXj0gTaKILS6Ap5w==" {
		t.Fatalf("re-encrypt = %s", got)
	}
}

// Derived (not field-verified) vectors of the hypothesis TCP profile.
func TestDCPDerivedVectors(t *testing.T) {
	c, err := NewDCPCipher([]byte("D5F2FDLV"), SHA1)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := DCPKey([]byte("D5F2FDLV"), SHA1)
	if got := hex.EncodeToString(k); got != "63b5cb231901e822cea34ae72b25497b6f8268ea00000000" {
		t.Fatalf("sha1 key = %s", got)
	}
	if got := hex.EncodeToString(c.IV()); got != "a35aec5d5ca562717a992356fbea5af7" {
		t.Fatalf("sha1 iv = %s", got)
	}
	if got := c.EncryptString([]byte("TT=Test")); got != "UGaXqXH+ag==" {
		t.Fatalf("cfb8(TT=Test) = %s", got)
	}
	m, err := NewDCPCipher([]byte("D5F2FDLV"), MD5)
	if err != nil {
		t.Fatal(err)
	}
	k, _ = DCPKey([]byte("D5F2FDLV"), MD5)
	if got := hex.EncodeToString(k); got != "abf95bf49fedf08d2fe89c8062d513f6" {
		t.Fatalf("md5 key = %s", got)
	}
	if got := hex.EncodeToString(m.IV()); got != "ea93a95e674215892287a0976fc543aa" {
		t.Fatalf("md5 iv = %s", got)
	}
}

// CFB-8 against the NIST SP 800-38A F.3.7 vector (CFB8-AES128.Encrypt).
func TestCFB8NIST(t *testing.T) {
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	iv, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	pt, _ := hex.DecodeString("6bc1bee22e409f96e93d7e117393172aae2d")
	want, _ := hex.DecodeString("3b79424c9c0dd436bace9e0ed4586a4f32b9")
	b, _ := aes.NewCipher(key)
	ct := make([]byte, len(pt))
	NewCFB8Encrypter(b, iv).XORKeyStream(ct, pt)
	if !bytes.Equal(ct, want) {
		t.Fatalf("ct = %x, want %x", ct, want)
	}
	back := make([]byte, len(ct))
	NewCFB8Decrypter(b, iv).XORKeyStream(back, ct)
	if !bytes.Equal(back, pt) {
		t.Fatalf("round trip = %x", back)
	}
	// Streaming in pieces must equal one call.
	s := NewCFB8Encrypter(b, iv)
	var parts []byte
	for i := 0; i < len(pt); i += 5 {
		end := min(i+5, len(pt))
		out := make([]byte, end-i)
		s.XORKeyStream(out, pt[i:end])
		parts = append(parts, out...)
	}
	if !bytes.Equal(parts, want) {
		t.Fatalf("chunked ct = %x", parts)
	}
	var _ cipher.Stream = s
}

func TestLenientBase64(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"dqbxW8Rq+Wy7OPRJpcuQtA", "76a6f15bc46af96cbb38f449a5cb90b4", true},
		{"dqbxW8Rq+Wy7OPRJpcuQtA==", "76a6f15bc46af96cbb38f449a5cb90b4", true},
		{"dqbx W8Rq\r\n+Wy7OPRJpcuQtA", "76a6f15bc46af96cbb38f449a5cb90b4", true},
		{"QQ", "41", true},
		{"QR==", "41", true}, // non-zero filler bits, as DCPcrypt writes them
		{"QUFBQ", "", false},
		{"", "", true},
	} {
		got, err := LenientBase64(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("%q: err = %v", tc.in, err)
		}
		if tc.ok && hex.EncodeToString(got) != tc.want {
			t.Fatalf("%q: got %x want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseHash(t *testing.T) {
	if h, err := ParseHash("SHA1"); err != nil || h != SHA1 {
		t.Fatalf("sha1: %v %v", h, err)
	}
	if h, err := ParseHash("md5"); err != nil || h != MD5 {
		t.Fatalf("md5: %v %v", h, err)
	}
	if _, err := ParseHash("sha256"); err == nil {
		t.Fatal("sha256 accepted")
	}
}

func FuzzLenientBase64(f *testing.F) {
	f.Add("BszXj0gTaKILS6Ap56==")
	f.Add("dqbxW8Rq+Wy7OPRJpcuQtA")
	f.Add("a=b=c")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := LenientBase64(s)
		if err == nil && len(b) > len(s) {
			t.Fatalf("decoded %d bytes from %d characters", len(b), len(s))
		}
	})
}
