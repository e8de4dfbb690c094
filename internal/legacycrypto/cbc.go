package legacycrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// ZeroIV is the all-zero CBC IV of the legacy formats (backup's file
// encryption, cloudreport's seed codec). It is returned by value, so no
// caller can change it for the others.
func ZeroIV() [aes.BlockSize]byte { return [aes.BlockSize]byte{} }

// NewCBCEncrypterZeroIV is cipher.NewCBCEncrypter with the zero IV.
func NewCBCEncrypterZeroIV(b cipher.Block) cipher.BlockMode {
	iv := ZeroIV()
	return cipher.NewCBCEncrypter(b, iv[:])
}

// NewCBCDecrypterZeroIV is cipher.NewCBCDecrypter with the zero IV.
func NewCBCDecrypterZeroIV(b cipher.Block) cipher.BlockMode {
	iv := ZeroIV()
	return cipher.NewCBCDecrypter(b, iv[:])
}

// PKCS7Pad appends PKCS#7 padding to b up to a multiple of the AES block
// size (1 to 16 bytes, each holding the count).
func PKCS7Pad(b []byte) []byte {
	p := aes.BlockSize - len(b)%aes.BlockSize
	for range p {
		b = append(b, byte(p))
	}
	return b
}

// PKCS7PadLen checks the PKCS#7 padding that ends b (decrypted CBC
// plaintext) and returns its length, 1 to 16. It looks at every byte of
// the last block whatever it finds, so its timing does not tell where the
// padding goes wrong (no padding oracle through timing). ok is false when
// the padding is invalid or b is shorter than a block.
func PKCS7PadLen(b []byte) (n int, ok bool) {
	if len(b) < aes.BlockSize {
		return 0, false
	}
	tail := b[len(b)-aes.BlockSize:]
	n = int(tail[aes.BlockSize-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, aes.BlockSize)
	for i := range aes.BlockSize {
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize-i, n)
		eq := subtle.ConstantTimeByteEq(tail[i], byte(n))
		good &= eq | (1 - inPad)
	}
	return n, good == 1
}
