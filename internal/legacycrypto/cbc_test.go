package legacycrypto

import (
	"bytes"
	"crypto/aes"
	"testing"
)

func TestPKCS7PadLen(t *testing.T) {
	for n := 1; n <= 16; n++ {
		b := append(bytes.Repeat([]byte{0xAA}, 16-n), bytes.Repeat([]byte{byte(n)}, n)...)
		if got, ok := PKCS7PadLen(b); !ok || got != n {
			t.Fatalf("n=%d: %d %v", n, got, ok)
		}
		// Only the last block is looked at.
		if got, ok := PKCS7PadLen(append(bytes.Repeat([]byte{0}, 32), b...)); !ok || got != n {
			t.Fatalf("n=%d after two blocks: %d %v", n, got, ok)
		}
		if n > 1 {
			b[16-n] ^= 1
			if _, ok := PKCS7PadLen(b); ok {
				t.Fatalf("n=%d: corrupted padding accepted", n)
			}
		}
	}
	for _, last := range []byte{0, 17, 255} {
		b := make([]byte, 16)
		b[15] = last
		if _, ok := PKCS7PadLen(b); ok {
			t.Fatalf("pad byte %d accepted", last)
		}
	}
	if _, ok := PKCS7PadLen(bytes.Repeat([]byte{1}, 15)); ok {
		t.Fatal("a short buffer accepted")
	}
}

func TestPKCS7PadRoundTrip(t *testing.T) {
	for n := 0; n <= 40; n++ {
		p := PKCS7Pad(bytes.Repeat([]byte{7}, n))
		if len(p)%aes.BlockSize != 0 || len(p) <= n || len(p)-n > aes.BlockSize {
			t.Fatalf("n=%d: padded to %d", n, len(p))
		}
		if got, ok := PKCS7PadLen(p); !ok || got != len(p)-n {
			t.Fatalf("n=%d: pad length %d %v", n, got, ok)
		}
	}
}

func TestZeroIVCBC(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	pt := bytes.Repeat([]byte("sixteen byte blk"), 2)
	ct := make([]byte, len(pt))
	NewCBCEncrypterZeroIV(b).CryptBlocks(ct, pt)
	// With a zero IV the first ciphertext block is E_K(P1).
	var first [16]byte
	b.Encrypt(first[:], pt[:16])
	if !bytes.Equal(ct[:16], first[:]) {
		t.Fatal("the IV is not zero")
	}
	back := make([]byte, len(ct))
	NewCBCDecrypterZeroIV(b).CryptBlocks(back, ct)
	if !bytes.Equal(back, pt) {
		t.Fatal("round trip")
	}
	if ZeroIV() != [16]byte{} {
		t.Fatal("ZeroIV")
	}
}
