package cloudreport

import (
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/adler32"
	"io"

	"gatehouse/internal/legacycrypto"
)

// Streaming encryption for large payloads (DWNL): the DATA= text is
// produced and written piece by piece, so a reply never exists whole in
// memory and a slow reader pins only the pipeline's small buffers, not
// several copies of the update file (docs/cloudreport.md, "Downloads").
// The bytes are a valid payload for the same Decrypt as Encrypt's.

// EncryptWriter returns a writer that takes payload plaintext and writes
// its DATA= text (zlib, PKCS#7, AES-CBC, base64 without '=') to w; Close
// writes the tail. It does not close w.
func (c *SeedCodec) EncryptWriter(w io.Writer) io.WriteCloser {
	b64 := base64.NewEncoder(base64.RawStdEncoding, w)
	cbc := &cbcWriter{mode: legacycrypto.NewCBCEncrypterZeroIV(c.block), next: b64, buf: make([]byte, 0, streamChunk+aes.BlockSize)}
	return newZlibWriter(cbc)
}

// EncryptWriter is the delphi dialect's streaming Encrypt: zlib (when
// configured), CFB-8, base64 with '='.
func (c *DelphiCodec) EncryptWriter(w io.Writer) io.WriteCloser {
	b64 := base64.NewEncoder(base64.StdEncoding, w)
	sw := &streamWriter{s: c.c.EncryptStream(), next: b64, buf: make([]byte, streamChunk)}
	if c.zlib {
		return newZlibWriter(sw)
	}
	return sw
}

// streamChunk is how much ciphertext a stage buffers before passing it on.
const streamChunk = 16 << 10

// cbcWriter encrypts whole blocks as they fill and pads the last one
// (PKCS#7) at Close.
type cbcWriter struct {
	mode cipher.BlockMode
	next io.WriteCloser
	buf  []byte // len < streamChunk between calls; cap leaves room for padding
}

func (c *cbcWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), streamChunk-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == streamChunk {
			c.mode.CryptBlocks(c.buf, c.buf)
			if _, err := c.next.Write(c.buf); err != nil {
				return n - len(p), err
			}
			c.buf = c.buf[:0]
		}
	}
	return n, nil
}

func (c *cbcWriter) Close() error {
	pad := aes.BlockSize - len(c.buf)%aes.BlockSize
	for range pad {
		c.buf = append(c.buf, byte(pad))
	}
	c.mode.CryptBlocks(c.buf, c.buf)
	if _, err := c.next.Write(c.buf); err != nil {
		return err
	}
	return c.next.Close()
}

// streamWriter applies a cipher.Stream (CFB-8).
type streamWriter struct {
	s    cipher.Stream
	next io.WriteCloser
	buf  []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), len(w.buf))
		w.s.XORKeyStream(w.buf[:k], p[:k])
		if _, err := w.next.Write(w.buf[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (w *streamWriter) Close() error { return w.next.Close() }

// zlibWriter writes an RFC 1950 stream with the seed's 78 DA header (the
// body is deflate at speed level, as deflate does), then closes next.
type zlibWriter struct {
	next   io.WriteCloser
	fw     *flate.Writer
	sum    hash.Hash32
	header bool
}

func newZlibWriter(next io.WriteCloser) *zlibWriter {
	fw := zwPool.Get().(*flate.Writer)
	fw.Reset(next)
	return &zlibWriter{next: next, fw: fw, sum: adler32.New()}
}

func (z *zlibWriter) writeHeader() error {
	if z.header {
		return nil
	}
	z.header = true
	_, err := z.next.Write([]byte{0x78, 0xda})
	return err
}

func (z *zlibWriter) Write(p []byte) (int, error) {
	if err := z.writeHeader(); err != nil {
		return 0, err
	}
	z.sum.Write(p)
	return z.fw.Write(p)
}

// Close finishes the stream. The flate writer goes back to the pool only
// after a clean finish.
func (z *zlibWriter) Close() error {
	if err := z.writeHeader(); err != nil {
		return err
	}
	if err := z.fw.Close(); err != nil {
		return err
	}
	zwPool.Put(z.fw)
	z.fw = nil
	var tail [4]byte
	binary.BigEndian.PutUint32(tail[:], z.sum.Sum32())
	if _, err := z.next.Write(tail[:]); err != nil {
		return err
	}
	return z.next.Close()
}
