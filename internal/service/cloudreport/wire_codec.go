package cloudreport

// Wire format: the payload codecs (zlib, then the seed's AES-128-CBC or the
// Delphi profile's DCPcrypt CFB-8, in base64).

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"io"
	"sync"

	"gatehouse/internal/legacycrypto"
)

// ErrDecrypt is every decryption failure; callers must not tell causes apart
// on the wire (that would be a padding oracle).
var ErrDecrypt = errors.New("cloudreport: failed to decrypt data")

// Codec turns payload plaintext into the DATA= text and back.
type Codec interface {
	Encrypt(plain []byte) (string, error)
	Decrypt(data string) ([]byte, error)
	// EncryptWriter streams Encrypt: plaintext written to the result
	// comes out as DATA= text on w, finished by Close (stream.go).
	EncryptWriter(w io.Writer) io.WriteCloser
}

var (
	zwPool = sync.Pool{New: func() any { w, _ := flate.NewWriter(io.Discard, flate.BestSpeed); return w }}
	zrPool sync.Pool // io.ReadCloser implementing zlib.Resetter
)

// deflate writes an RFC 1950 stream. The header is the seed's 78 DA, but the
// body is deflate at speed level: the header's level bits are informational
// only, every zlib decoder accepts the stream, and level 9 cost a 640 KB
// table reset per message, most of an INFO round trip.
func deflate(plain []byte) []byte {
	if len(plain) <= storedMax {
		return deflateStored(plain)
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(plain)/2+32))
	buf.Write([]byte{0x78, 0xda})
	w := zwPool.Get().(*flate.Writer)
	w.Reset(buf)
	w.Write(plain)
	w.Close()
	zwPool.Put(w)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], adler32.Checksum(plain))
	buf.Write(sum[:])
	return buf.Bytes()
}

// storedMax is the largest payload sent as one stored (uncompressed) deflate
// block. Replies such as INFO and PING-sized answers are a few hundred
// bytes: building Huffman codes for them cost half of INFO's server time
// and saved a handful of bytes. Every inflater reads stored blocks.
const storedMax = 1024

// deflateStored is a zlib stream (with the seed's 78 DA header) holding
// plain in one final stored block; len(plain) must be at most 65535.
func deflateStored(plain []byte) []byte {
	out := make([]byte, 0, 2+5+len(plain)+4)
	n := uint16(len(plain))
	out = append(out, 0x78, 0xda, 0x01, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
	out = append(out, plain...)
	return binary.BigEndian.AppendUint32(out, adler32.Checksum(plain))
}

// inflate decompresses a zlib stream, checking its Adler-32, and fails when
// the output would exceed limit.
func inflate(z []byte, limit int) ([]byte, error) {
	var r io.ReadCloser
	if v := zrPool.Get(); v != nil {
		r = v.(io.ReadCloser)
		if err := r.(zlib.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
			return nil, ErrDecrypt
		}
	} else {
		var err error
		if r, err = zlib.NewReader(bytes.NewReader(z)); err != nil {
			return nil, ErrDecrypt
		}
	}
	defer zrPool.Put(r)
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil || len(out) > limit {
		return nil, ErrDecrypt
	}
	return out, nil
}

// SeedCodec is the seed's DataCompressor: zlib level 9, PKCS#7, AES-128-CBC
// with key MD5(crypto key) and a zero IV, base64 without '='.
type SeedCodec struct {
	block      cipher.Block
	maxInflate int
}

// NewSeedCodec keys a SeedCodec; maxInflate <= 0 means DefaultMaxInflate.
func NewSeedCodec(cryptoKey string, maxInflate int) *SeedCodec {
	k := md5.Sum([]byte(cryptoKey))
	b, _ := aes.NewCipher(k[:]) // 16 bytes: cannot fail
	if maxInflate <= 0 {
		maxInflate = DefaultMaxInflate
	}
	return &SeedCodec{block: b, maxInflate: maxInflate}
}

func (c *SeedCodec) Encrypt(plain []byte) (string, error) {
	z := deflate(plain)
	z = legacycrypto.PKCS7Pad(z)
	legacycrypto.NewCBCEncrypterZeroIV(c.block).CryptBlocks(z, z)
	return base64.RawStdEncoding.EncodeToString(z), nil
}

// Decrypt reverses Encrypt. Missing '=' is accepted and characters outside
// the alphabet are skipped, as the seed does. The padding check runs in
// constant time and every failure is the same ErrDecrypt. An empty
// plaintext is returned as such (the seed called it a failure).
func (c *SeedCodec) Decrypt(data string) ([]byte, error) {
	ct, err := legacycrypto.LenientBase64(data)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrDecrypt
	}
	legacycrypto.NewCBCDecrypterZeroIV(c.block).CryptBlocks(ct, ct)
	n, ok := legacycrypto.PKCS7PadLen(ct)
	if !ok {
		return nil, ErrDecrypt
	}
	return inflate(ct[:len(ct)-n], c.maxInflate)
}

// DelphiCodec is the experimental DCPcrypt profile: zlib, then Rijndael keyed
// with hash(crypto key) zero-padded, IV = E_K(FF…FF), CFB-8, base64 with '='.
type DelphiCodec struct {
	c          *legacycrypto.DCPCipher
	zlib       bool
	maxInflate int
}

// NewDelphiCodec keys a DelphiCodec. With useZlib false payloads are sent
// as raw text; received payloads are inflated when they carry a zlib
// header and taken as raw text otherwise.
func NewDelphiCodec(cryptoKey string, h legacycrypto.Hash, useZlib bool, maxInflate int) (*DelphiCodec, error) {
	c, err := legacycrypto.NewDCPCipher([]byte(cryptoKey), h)
	if err != nil {
		return nil, err
	}
	if maxInflate <= 0 {
		maxInflate = DefaultMaxInflate
	}
	return &DelphiCodec{c: c, zlib: useZlib, maxInflate: maxInflate}, nil
}

func (c *DelphiCodec) Encrypt(plain []byte) (string, error) {
	if c.zlib {
		plain = deflate(plain)
	}
	return c.c.EncryptString(plain), nil
}

func (c *DelphiCodec) Decrypt(data string) ([]byte, error) {
	pt, err := c.c.DecryptString(data)
	if err != nil || len(pt) == 0 {
		return nil, ErrDecrypt
	}
	if len(pt) >= 2 && pt[0]&0x0f == 8 && (int(pt[0])<<8|int(pt[1]))%31 == 0 {
		return inflate(pt, c.maxInflate)
	}
	if len(pt) > c.maxInflate || !plausibleText(pt) {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// plausibleText accepts a raw (uncompressed) payload only when it looks like
// KEY=value text, so a wrong key still reads as a decryption failure.
func plausibleText(b []byte) bool {
	if !bytes.Contains(b, []byte("=")) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
