// Package legacycrypto holds the legacy cipher plumbing the standard library does
// not ship: 8-bit cipher feedback (CFB-8) and the key/IV conventions of the
// Delphi DCPcrypt library that the original Cloud Report programs used.
//
// It also holds the AES-CBC conventions the legacy formats share: the
// all-zero IV (backup's file encryption, cloudreport's seed codec) and the
// one constant-time PKCS#7 padding check.
//
// None of this is authenticated encryption. It exists only so Gatehouse can
// speak to clients whose wire format was fixed decades ago; new protocols
// must use an AEAD. (The name says so, and keeps the package from shadowing
// the standard library's crypto.)
package legacycrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

type cfb8 struct {
	b       cipher.Block
	reg     []byte // shift register, one block long
	tmp     []byte
	decrypt bool
}

// NewCFB8Encrypter returns a stream that encrypts with 8-bit cipher feedback:
// for every byte the register is encrypted, its first byte is XORed into the
// data, and the ciphertext byte is shifted into the register.
func NewCFB8Encrypter(b cipher.Block, iv []byte) cipher.Stream { return newCFB8(b, iv, false) }

// NewCFB8Decrypter is the inverse of NewCFB8Encrypter.
func NewCFB8Decrypter(b cipher.Block, iv []byte) cipher.Stream { return newCFB8(b, iv, true) }

func newCFB8(b cipher.Block, iv []byte, decrypt bool) cipher.Stream {
	if len(iv) != b.BlockSize() {
		panic("legacycrypto: CFB-8 IV length must equal the block size")
	}
	return &cfb8{b: b, reg: append([]byte(nil), iv...), tmp: make([]byte, b.BlockSize()), decrypt: decrypt}
}

func (x *cfb8) XORKeyStream(dst, src []byte) {
	if len(dst) < len(src) {
		panic("legacycrypto: CFB-8 output smaller than input")
	}
	for i, in := range src {
		x.b.Encrypt(x.tmp, x.reg)
		out := in ^ x.tmp[0]
		copy(x.reg, x.reg[1:])
		// The register always takes the ciphertext byte.
		if x.decrypt {
			x.reg[len(x.reg)-1] = in
		} else {
			x.reg[len(x.reg)-1] = out
		}
		dst[i] = out
	}
}

// Hash selects the digest DCPcrypt's InitStr turns a passphrase into.
type Hash string

const (
	SHA1 Hash = "sha1"
	MD5  Hash = "md5"
)

// ParseHash accepts "sha1" or "md5" (any case).
func ParseHash(s string) (Hash, error) {
	switch strings.ToLower(s) {
	case "sha1", "sha-1":
		return SHA1, nil
	case "md5":
		return MD5, nil
	}
	return "", fmt.Errorf("legacycrypto: unknown DCPcrypt hash %q (want sha1 or md5)", s)
}

// DCPKey reproduces DCPcrypt's TDCP_rijndael.InitStr(s, hash): the digest
// of the single-byte string becomes the key, zero-padded up to the next AES
// key size (SHA-1's 20 bytes become an AES-192 key).
func DCPKey(passphrase []byte, h Hash) ([]byte, error) {
	var d []byte
	switch h {
	case SHA1:
		s := sha1.Sum(passphrase)
		d = s[:]
	case MD5:
		s := md5.Sum(passphrase)
		d = s[:]
	default:
		return nil, fmt.Errorf("legacycrypto: unknown DCPcrypt hash %q", h)
	}
	size := 16
	for size < len(d) {
		size += 8
	}
	k := make([]byte, size)
	copy(k, d)
	return k, nil
}

// DCPCipher is a Rijndael key set up the way DCPcrypt does it when Init is
// given no IV: the IV is the encryption of an all-0xFF block.
type DCPCipher struct {
	block cipher.Block
	iv    [aes.BlockSize]byte
}

// NewDCPCipher keys AES from passphrase with DCPKey.
func NewDCPCipher(passphrase []byte, h Hash) (*DCPCipher, error) {
	k, err := DCPKey(passphrase, h)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("legacycrypto: %w", err)
	}
	c := &DCPCipher{block: b}
	var ff [aes.BlockSize]byte
	for i := range ff {
		ff[i] = 0xFF
	}
	b.Encrypt(c.iv[:], ff[:])
	return c, nil
}

// IV returns the derived initial vector.
func (c *DCPCipher) IV() []byte { return append([]byte(nil), c.iv[:]...) }

// Encrypt is DCPcrypt's EncryptString without the base64 step: CFB-8 from
// the derived IV, output as long as the input.
func (c *DCPCipher) Encrypt(plain []byte) []byte {
	out := make([]byte, len(plain))
	NewCFB8Encrypter(c.block, c.iv[:]).XORKeyStream(out, plain)
	return out
}

// EncryptStream is Encrypt as a stream, for payloads sent in pieces: the
// bytes it produces are those Encrypt gives for the concatenated input.
func (c *DCPCipher) EncryptStream() cipher.Stream { return NewCFB8Encrypter(c.block, c.iv[:]) }

// Decrypt is the inverse of Encrypt.
func (c *DCPCipher) Decrypt(ct []byte) []byte {
	out := make([]byte, len(ct))
	NewCFB8Decrypter(c.block, c.iv[:]).XORKeyStream(out, ct)
	return out
}

// EncryptString is DCPcrypt's EncryptString: CFB-8, then base64 with '='.
func (c *DCPCipher) EncryptString(plain []byte) string {
	return base64.StdEncoding.EncodeToString(c.Encrypt(plain))
}

// ErrBase64 is returned for text that is not base64 even leniently.
var ErrBase64 = errors.New("legacycrypto: invalid base64")

// DecryptString is DCPcrypt's DecryptString. DCPcrypt's encoder leaves
// non-zero filler bits in the last group, so decoding is deliberately not
// strict; missing '=' padding is accepted too.
func (c *DCPCipher) DecryptString(s string) ([]byte, error) {
	ct, err := LenientBase64(s)
	if err != nil {
		return nil, err
	}
	return c.Decrypt(ct), nil
}

// LenientBase64 decodes standard base64 the way Python's non-strict
// b64decode and DCPcrypt do: characters outside the alphabet are skipped,
// '=' padding is optional, and filler bits need not be zero. Input whose
// length leaves a single dangling character is rejected.
func LenientBase64(s string) ([]byte, error) {
	clean := AppendBase64Chars(make([]byte, 0, len(s)), s)
	if len(clean)%4 == 1 {
		return nil, ErrBase64
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBase64, err)
	}
	return out[:n], nil
}

// AppendBase64Chars appends to dst what LenientBase64 decodes of s: the
// characters of the standard alphabet, up to the first '=' (padding ends
// the data; anything after it is ignored, as Python does once a quantum
// is complete).
func AppendBase64Chars(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '+', ch == '/':
			dst = append(dst, ch)
		case ch == '=':
			return dst
		}
	}
	return dst
}
