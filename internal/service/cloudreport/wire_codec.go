package cloudreport

// Wire format: the payload codecs (zlib, then the seed's AES-128-CBC or the
// Delphi profile's DCPcrypt CFB-8, in base64).

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/subtle"
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

var zwPool = sync.Pool{New: func() any { w, _ := flate.NewWriter(io.Discard, flate.BestSpeed); return w }}

// codecBuf is the memory of one request's payload work (the DATA text it
// decodes, the ciphertext it decrypts in place, the inflated payload and
// its fields, the reply's payload, zlib stream and reply line), reused
// through codecBufs so a warm INFO allocates none of it
// (docs/performance.md, "cloudreport INFO"). What its methods return
// points into it and is valid until it is put back.
type codecBuf struct {
	text   []byte // DATA text, alphabet characters only
	ct     []byte // ciphertext, then its plaintext (decrypted in place)
	plain  []byte // the inflated payload
	fields []fieldRef
	out    []byte // a reply's payload
	z      []byte // its zlib stream, padded and encrypted in place
	reply  []byte // the reply line(s)
	src    bytes.Reader
	fr     io.ReadCloser // a flate reader (flate.Resetter), nil until needed
	aw     appendWriter
}

var codecBufs = sync.Pool{New: func() any { return new(codecBuf) }}

// maxKeptBuf bounds each slice a pooled codecBuf keeps: a request with a
// larger payload (up to MaxInflate) allocates its own and does not pin it.
const maxKeptBuf = 16 << 10

func getCodecBuf() *codecBuf { return codecBufs.Get().(*codecBuf) }

func putCodecBuf(b *codecBuf) {
	trim := func(s []byte) []byte {
		if cap(s) > maxKeptBuf {
			return nil
		}
		return s[:0]
	}
	b.text, b.ct, b.plain, b.out, b.z, b.reply = trim(b.text), trim(b.ct), trim(b.plain), trim(b.out), trim(b.z), trim(b.reply)
	if cap(b.fields) > 256 {
		b.fields = nil
	}
	b.fields = b.fields[:0]
	b.src.Reset(nil)
	b.aw.b = nil
	codecBufs.Put(b)
}

// appendWriter appends what is written to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// deflate writes an RFC 1950 stream. The header is the seed's 78 DA, but the
// body is deflate at speed level: the header's level bits are informational
// only, every zlib decoder accepts the stream, and level 9 cost a 640 KB
// table reset per message, most of an INFO round trip.
func deflate(plain []byte) []byte {
	var w appendWriter
	return appendDeflate(nil, plain, &w)
}

// appendDeflate appends deflate(plain) to dst; aw is scratch for the
// compressor's output.
func appendDeflate(dst, plain []byte, aw *appendWriter) []byte {
	if len(plain) <= storedMax {
		return appendDeflateStored(dst, plain)
	}
	aw.b = append(dst, 0x78, 0xda)
	w := zwPool.Get().(*flate.Writer)
	w.Reset(aw)
	w.Write(plain)
	w.Close()
	w.Reset(io.Discard) // the pool must not keep aw (and its buffer) alive
	zwPool.Put(w)
	out := binary.BigEndian.AppendUint32(aw.b, adler32.Checksum(plain))
	aw.b = nil
	return out
}

// storedMax is the largest payload sent as one stored (uncompressed) deflate
// block. Replies such as INFO and PING-sized answers are a few hundred
// bytes: building Huffman codes for them cost half of INFO's server time
// and saved a handful of bytes. Every inflater reads stored blocks.
const storedMax = 1024

// appendDeflateStored appends a zlib stream (with the seed's 78 DA header)
// holding plain in one final stored block; len(plain) must be at most 65535.
func appendDeflateStored(out, plain []byte) []byte {
	n := uint16(len(plain))
	out = append(out, 0x78, 0xda, 0x01, byte(n), byte(n>>8), byte(^n), byte(^n>>8))
	out = append(out, plain...)
	return binary.BigEndian.AppendUint32(out, adler32.Checksum(plain))
}

// inflate decompresses a zlib stream, checking its Adler-32, and fails when
// the output would exceed limit.
func inflate(z []byte, limit int) ([]byte, error) {
	b := getCodecBuf()
	defer putCodecBuf(b)
	out, err := b.inflate(z, limit)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(out), nil
}

// inflate decompresses the zlib stream z into b.plain, failing when the
// output would exceed limit. It accepts exactly what compress/zlib's reader
// (with no dictionary) read to EOF accepts: the header checks (a preset
// dictionary only with the checksum of none), the deflate data, and the
// Adler-32 of the output in the four bytes after it; bytes after those are
// ignored. Its own framing spares the zlib reader's per-stream allocation.
func (b *codecBuf) inflate(z []byte, limit int) ([]byte, error) {
	if len(z) < 2 {
		return nil, ErrDecrypt
	}
	if h := binary.BigEndian.Uint16(z); z[0]&0x0f != 8 || z[0]>>4 > 7 || h%31 != 0 {
		return nil, ErrDecrypt
	}
	body := z[2:]
	if z[1]&0x20 != 0 { // FDICT: zlib compares it with the (empty) dictionary's
		if len(body) < 4 || binary.BigEndian.Uint32(body) != adler32.Checksum(nil) {
			return nil, ErrDecrypt
		}
		body = body[4:]
	}
	if out, rest, stored, ok := b.inflateStored(body, limit); stored {
		if !ok || len(rest) < 4 || binary.BigEndian.Uint32(rest) != adler32.Checksum(out) {
			return nil, ErrDecrypt
		}
		return out, nil
	}
	b.src.Reset(body)
	if b.fr == nil {
		b.fr = flate.NewReader(&b.src)
	} else if err := b.fr.(flate.Resetter).Reset(&b.src, nil); err != nil {
		return nil, ErrDecrypt
	}
	out := b.plain[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, 512)
	}
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		// Never read past limit+1 bytes: one more than allowed fails.
		room := min(cap(out), limit+1)
		n, err := b.fr.Read(out[len(out):room])
		out = out[:len(out)+n]
		b.plain = out
		if len(out) > limit {
			return nil, ErrDecrypt
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ErrDecrypt
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(&b.src, sum[:]); err != nil || binary.BigEndian.Uint32(sum[:]) != adler32.Checksum(out) {
		return nil, ErrDecrypt
	}
	return out, nil
}

// inflateStored is inflate's path for a deflate body made of stored
// (uncompressed) blocks only, as this package's deflate writes replies and
// the Go client its requests: it copies the blocks into b.plain without
// the flate reader (whose Reset alone cost more than the copy). It reports
// stored false, having decided nothing, when a block is not stored; the
// caller then runs the flate reader over the whole body, which decides.
// Otherwise it decides as the flate reader would: a block is its header's
// three bits (the other five bits of that byte are skipped), LEN and its
// complement NLEN, LEN bytes; a truncated or inconsistent block, or more
// than limit bytes of output, fails (ok false). After the final block it
// returns the output and what follows the block.
func (b *codecBuf) inflateStored(body []byte, limit int) (out, rest []byte, stored, ok bool) {
	if len(body) == 0 || body[0]&0x06 != 0 {
		return nil, nil, false, false
	}
	out = b.plain[:0]
	for {
		if len(body) == 0 {
			return nil, nil, true, false // truncated: the reader's unexpected EOF
		}
		h := body[0]
		if h&0x06 != 0 {
			return nil, nil, false, false // a compressed (or invalid) block: the reader decides
		}
		if len(body) < 5 || binary.LittleEndian.Uint16(body[3:]) != ^binary.LittleEndian.Uint16(body[1:]) {
			return nil, nil, true, false
		}
		n := int(binary.LittleEndian.Uint16(body[1:]))
		body = body[5:]
		if len(body) < n || len(out)+n > limit {
			return nil, nil, true, false
		}
		out = append(out, body[:n]...)
		b.plain = out
		body = body[n:]
		if h&1 == 1 {
			return out, body, true, true
		}
	}
}

// lenientBase64 is legacycrypto.LenientBase64 into b.ct: characters
// outside the alphabet are skipped, '=' ends the data.
func (b *codecBuf) lenientBase64(s string) ([]byte, bool) {
	// Fast path, the usual case: text of the alphabet only (CR and LF,
	// which the decoder skips as the filter below does) decodes as is,
	// to the same bytes the filtered text gives.
	n := base64.RawStdEncoding.DecodedLen(len(s))
	if cap(b.ct) < n {
		b.ct = make([]byte, n)
	}
	b.text = append(b.text[:0], s...)
	if n, err := base64.RawStdEncoding.Decode(b.ct[:n], b.text); err == nil {
		b.ct = b.ct[:n]
		return b.ct, true
	}
	clean := legacycrypto.AppendBase64Chars(b.text[:0], s)
	b.text = clean
	if len(clean)%4 == 1 {
		return nil, false
	}
	n = base64.RawStdEncoding.DecodedLen(len(clean))
	n, err := base64.RawStdEncoding.Decode(b.ct[:n], clean)
	if err != nil {
		return nil, false
	}
	b.ct = b.ct[:n]
	return b.ct, true
}

// cbcEncrypt encrypts b in place with AES-CBC and a zero IV; len(b) is a
// multiple of the block size. (cipher.NewCBCEncrypter would allocate a
// mode per message for the same bytes.)
func cbcEncrypt(blk cipher.Block, b []byte) {
	var prev [aes.BlockSize]byte // the zero IV
	for i := 0; i < len(b); i += aes.BlockSize {
		x := b[i : i+aes.BlockSize]
		subtle.XORBytes(x, x, prev[:])
		blk.Encrypt(x, x)
		copy(prev[:], x)
	}
}

// cbcDecrypt decrypts b in place with AES-CBC and a zero IV; len(b) is a
// multiple of the block size.
func cbcDecrypt(blk cipher.Block, b []byte) {
	var prev, cur [aes.BlockSize]byte // prev starts as the zero IV
	for i := 0; i < len(b); i += aes.BlockSize {
		x := b[i : i+aes.BlockSize]
		copy(cur[:], x)
		blk.Decrypt(x, x)
		subtle.XORBytes(x, x, prev[:])
		prev = cur
	}
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
	b := getCodecBuf()
	defer putCodecBuf(b)
	out, err := c.appendEncrypt(b.reply[:0], b, plain)
	b.reply = out
	return string(out), err
}

// appendEncrypt appends Encrypt(plain)'s text to dst, with b.z as scratch
// (plain must not be in b.z).
func (c *SeedCodec) appendEncrypt(dst []byte, b *codecBuf, plain []byte) ([]byte, error) {
	z := appendDeflate(b.z[:0], plain, &b.aw)
	z = legacycrypto.PKCS7Pad(z)
	cbcEncrypt(c.block, z)
	b.z = z
	return base64.RawStdEncoding.AppendEncode(dst, z), nil
}

// Decrypt reverses Encrypt. Missing '=' is accepted and characters outside
// the alphabet are skipped, as the seed does. The padding check runs in
// constant time and every failure is the same ErrDecrypt. An empty
// plaintext is returned as such (the seed called it a failure).
func (c *SeedCodec) Decrypt(data string) ([]byte, error) {
	b := getCodecBuf()
	defer putCodecBuf(b)
	p, err := c.decryptBuf(b, data)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(p), nil
}

// decryptBuf is Decrypt into b's memory.
func (c *SeedCodec) decryptBuf(b *codecBuf, data string) ([]byte, error) {
	ct, ok := b.lenientBase64(data)
	if !ok || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, ErrDecrypt
	}
	cbcDecrypt(c.block, ct)
	n, ok := legacycrypto.PKCS7PadLen(ct)
	if !ok {
		return nil, ErrDecrypt
	}
	return b.inflate(ct[:len(ct)-n], c.maxInflate)
}

// bufCodec is a Codec that can work in a codecBuf (the session's INFO
// path); others go through Codec's allocating methods.
type bufCodec interface {
	decryptBuf(b *codecBuf, data string) ([]byte, error)
	appendEncrypt(dst []byte, b *codecBuf, plain []byte) ([]byte, error)
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
