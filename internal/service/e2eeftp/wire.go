// Package e2eeftp is the E2EEFTP service: a wire-compatible replacement for
// the Python e2eeftp server (veeracoder508/e2eeftp). One connection carries
// one command: a 132-byte hello each way (raw X25519 ephemeral key, raw
// Ed25519 identity key, signature over the ephemeral key), then a plaintext
// header line "CMD|args\n", then for SEND an encrypted body, and one status
// line (plus a body for GET, LIST and HLIST).
//
// This file holds the frames and the cipher only; no I/O policy.
package e2eeftp

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/names"
)

// Wire constants (docs/e2eeftp.md, "Handshake and encrypted bodies").
const (
	HelloPayloadLen = 128                         // the only length stock peers send
	HelloLen        = 4 + HelloPayloadLen         // length prefix + payload
	KDFInfo         = "file-transfer-e2ee"        // HKDF info string
	MaxHeaderLine   = 4096                        // longest header line accepted, '\n' included
	MaxNameLen      = 255                         // longest file name accepted, in bytes
	blobOverhead    = aes.BlockSize + sha256.Size // IV + tag
)

// Status lines, byte for byte as the original server sends them
// (docs/e2eeftp.md, "Status lines").
const (
	StatusTransferComplete = "226|Transfer Complete\n"
	StatusDecryptionFailed = "500|Decryption Failed\n"
	StatusFileDeleted      = "200|File deleted\n"
	StatusNotFound         = "404|File not found\n" // DELETE: no name echoed
	StatusServerReadError  = "500|Server Read Error\n"
	// StatusServerWriteError answers a SEND the server could not store
	// (disk full, I/O error). The original said "500|Decryption Failed"
	// for those too; stock clients act on the code only.
	StatusServerWriteError = "500|Server Write Error\n"
	StatusInvalidCommand   = "400|Invalid Command\n"
	StatusMalformed        = "400|Malformed request\n"
)

// StatusNotFoundName is GET's 404 line, which echoes the name.
func StatusNotFoundName(name string) string { return "404|File not found: " + name + "\n" }

// StatusOK is the "200|<n>\n" line that precedes a body of n bytes.
func StatusOK(n int64) string { return "200|" + strconv.FormatInt(n, 10) + "\n" }

var (
	// ErrHelloLength: the hello's length prefix is not 128.
	ErrHelloLength = errors.New("e2eeftp: hello length is not 128")
	// ErrBadSignature: the hello's signature does not verify.
	ErrBadSignature = errors.New("e2eeftp: hello signature does not verify")
	// ErrLowOrder: the peer's ephemeral key gives an all-zero shared secret.
	ErrLowOrder = errors.New("e2eeftp: peer ephemeral key is a low-order point")
	// ErrDecrypt: a body failed its length, MAC or padding check.
	ErrDecrypt = errors.New("e2eeftp: decryption failed")
	// ErrLineTooLong: the header line exceeds MaxHeaderLine.
	ErrLineTooLong = errors.New("e2eeftp: header line too long")
	// ErrMalformed: the header line is not UTF-8, or a field is missing or bad.
	ErrMalformed = errors.New("e2eeftp: malformed request")
)

// Hello is one side's handshake message.
type Hello struct {
	Ephemeral [32]byte // X25519 public key
	Identity  [32]byte // Ed25519 public key
	Signature [64]byte // Ed25519 signature by Identity over Ephemeral
}

// NewHello signs eph with id.
func NewHello(id ed25519.PrivateKey, eph *ecdh.PublicKey) Hello {
	var h Hello
	copy(h.Ephemeral[:], eph.Bytes())
	copy(h.Identity[:], id[ed25519.SeedSize:]) // id.Public(), without its copy
	copy(h.Signature[:], ed25519.Sign(id, h.Ephemeral[:]))
	return h
}

// Marshal returns the 132 wire bytes.
func (h *Hello) Marshal() []byte {
	var b [HelloLen]byte
	h.marshalTo(&b)
	return b[:]
}

// marshalTo writes the 132 wire bytes into b (no allocation).
func (h *Hello) marshalTo(b *[HelloLen]byte) {
	binary.BigEndian.PutUint32(b[:4], HelloPayloadLen)
	copy(b[4:36], h.Ephemeral[:])
	copy(b[36:68], h.Identity[:])
	copy(b[68:], h.Signature[:])
}

// Verify reports whether the signature is the identity's over the ephemeral key.
func (h *Hello) Verify() bool {
	return ed25519.Verify(ed25519.PublicKey(h.Identity[:]), h.Ephemeral[:], h.Signature[:])
}

// ReadHello reads one hello. The original accepted any length and sliced
// the payload; a length other than 128 is refused here before anything
// else is read, so a peer cannot make us allocate or wait for more.
func ReadHello(r io.Reader) (Hello, error) {
	var b [HelloLen]byte
	if _, err := io.ReadFull(r, b[:4]); err != nil {
		return Hello{}, fmt.Errorf("e2eeftp: reading hello length: %w", err)
	}
	if binary.BigEndian.Uint32(b[:4]) != HelloPayloadLen {
		return Hello{}, ErrHelloLength
	}
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return Hello{}, fmt.Errorf("e2eeftp: reading hello: %w", err)
	}
	return ParseHello(b[:])
}

// ParseHello parses the 132 wire bytes of a hello.
func ParseHello(b []byte) (Hello, error) {
	if len(b) != HelloLen || binary.BigEndian.Uint32(b) != HelloPayloadLen {
		return Hello{}, ErrHelloLength
	}
	var h Hello
	copy(h.Ephemeral[:], b[4:36])
	copy(h.Identity[:], b[36:68])
	copy(h.Signature[:], b[68:132])
	return h, nil
}

// Keys are one session's keys; both directions use the same pair.
type Keys struct {
	AES [32]byte // AES-256-CBC
	MAC [32]byte // HMAC-SHA256
}

// DeriveKeys runs HKDF-SHA256 (no salt, info KDFInfo) over the X25519 secret.
func DeriveKeys(shared []byte) (Keys, error) {
	okm, err := hkdf.Key(sha256.New, shared, nil, KDFInfo, 64)
	if err != nil {
		return Keys{}, fmt.Errorf("e2eeftp: hkdf: %w", err)
	}
	var k Keys
	copy(k.AES[:], okm[:32])
	copy(k.MAC[:], okm[32:])
	return k, nil
}

// SessionKeys does X25519 with the peer's ephemeral key and derives the
// keys. A low-order peer key (all-zero secret) is ErrLowOrder.
func SessionKeys(priv *ecdh.PrivateKey, peer [32]byte) (Keys, error) {
	shared, err := sharedSecret(priv, peer)
	if err != nil {
		return Keys{}, err
	}
	return DeriveKeys(shared)
}

// sharedSecret is the X25519 secret with the peer's ephemeral key; a
// low-order peer key (all-zero secret) is ErrLowOrder.
func sharedSecret(priv *ecdh.PrivateKey, peer [32]byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return nil, ErrLowOrder
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		// crypto/ecdh refuses exactly the all-zero output of low-order points.
		return nil, ErrLowOrder
	}
	return shared, nil
}

// BlobLen is the encrypted body's size for n plaintext bytes:
// IV + PKCS#7-padded CBC + tag.
func BlobLen(n int64) int64 { return n - n%aes.BlockSize + aes.BlockSize + blobOverhead }

// ValidBlobLen reports whether l can be a body's size.
func ValidBlobLen(l int64) bool {
	return l >= aes.BlockSize+blobOverhead && (l-blobOverhead)%aes.BlockSize == 0
}

// PlainLenMax is the largest plaintext that a body of blobLen bytes can hold.
func PlainLenMax(blobLen int64) int64 { return blobLen - blobOverhead - 1 }

// chunk is the streaming unit, a multiple of the block size. At 256 KiB a
// GiB costs 4096 reads, writes and deadline updates on each side instead of
// 16384 at 64 KiB; on this sandboxed kernel every system call is dear, and
// larger chunks stopped paying (measured: docs/performance.md).
const chunk = 256 << 10

// sealHeadroom is the room in a transfer buffer for a prefix (a header or
// status line, at most MaxHeaderLine), the IV, the padding and the tag, so
// that each chunk goes out in one Write.
const sealHeadroom = MaxHeaderLine + 2*aes.BlockSize + sha256.Size

// bufPool recycles transfer buffers: a fresh 260 KiB slice per transfer
// would be zeroed and page-faulted in every time.
var bufPool = sync.Pool{New: func() any { b := make([]byte, chunk+sealHeadroom); return &b }}

// readerSize is the buffered reader in front of a connection: enough for
// the hello and a header line; body reads larger than it bypass it.
const readerSize = 4096

// readerPool recycles the server's per-connection readers (one connection
// per request makes a fresh 4 KiB buffer per request otherwise).
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

// Seal writes the body for the next n bytes of r to w: IV, CBC ciphertext,
// HMAC-SHA256(IV‖ciphertext). Memory use is constant. Exactly BlobLen(n)
// bytes are written unless an error is returned; a short r is
// io.ErrUnexpectedEOF, and w then holds a truncated body.
func (k *Keys) Seal(w io.Writer, r io.Reader, n int64, iv []byte) error {
	return k.seal(w, nil, r, n, iv)
}

// seal is Seal with prefix (a header or status line) written first. Each
// Write carries one chunk: the prefix and IV go out with the first one,
// the padding and tag with the last, so a small body is a single Write
// (one system call, one TCP segment train) and nothing is copied twice.
func (k *Keys) seal(w io.Writer, prefix []byte, r io.Reader, n int64, iv []byte) error {
	if len(iv) != aes.BlockSize || n < 0 {
		return errors.New("e2eeftp: seal: bad iv or size")
	}
	block, err := aes.NewCipher(k.AES[:])
	if err != nil {
		return err
	}
	enc := cipher.NewCBCEncrypter(block, iv)
	mac := hmac.New(sha256.New, k.MAC[:])
	mac.Write(iv)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if len(prefix) > MaxHeaderLine {
		if _, err := w.Write(prefix); err != nil {
			return err
		}
		prefix = nil
	}
	off := copy(buf, prefix)
	off += copy(buf[off:], iv)
	for left := n; ; off = 0 {
		m := int(min(int64(chunk), left))
		end := off + m
		if _, err := io.ReadFull(r, buf[off:end]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		left -= int64(m)
		if left == 0 {
			pad := aes.BlockSize - m%aes.BlockSize
			for i := end; i < end+pad; i++ {
				buf[i] = byte(pad)
			}
			end += pad
		}
		ct := buf[off:end]
		enc.CryptBlocks(ct, ct)
		mac.Write(ct)
		if left == 0 {
			end = len(mac.Sum(buf[:end]))
		}
		if _, err := w.Write(buf[:end]); err != nil {
			return err
		}
		if left == 0 {
			return nil
		}
	}
}

// WriteError wraps an error from Open's destination, so callers can tell
// a local failure from a bad body or a broken connection.
type WriteError struct{ Err error }

func (e *WriteError) Error() string { return "e2eeftp: writing plaintext: " + e.Err.Error() }
func (e *WriteError) Unwrap() error { return e.Err }

// Open reads a body of exactly blobLen bytes from r and writes its
// plaintext to w, in constant memory. w receives plaintext BEFORE the tag
// is checked: the caller must discard it unless Open returns nil (the
// server writes into an uncommitted blob). Results:
//   - nil: the tag and padding verified; n plaintext bytes were written;
//   - ErrDecrypt: bad length, tag or padding (all blobLen bytes were read);
//   - *WriteError: w failed (all blobLen bytes were still read, so the
//     connection stays in step);
//   - any other error: r failed or ended early.
func (k *Keys) Open(w io.Writer, r io.Reader, blobLen int64) (n int64, err error) {
	if !ValidBlobLen(blobLen) {
		if blobLen > 0 {
			if _, err := io.CopyN(io.Discard, r, blobLen); err != nil {
				return 0, err
			}
		}
		return 0, ErrDecrypt
	}
	block, err := aes.NewCipher(k.AES[:])
	if err != nil {
		return 0, err
	}
	var iv [aes.BlockSize]byte
	if _, err := io.ReadFull(r, iv[:]); err != nil {
		return 0, unexpected(err)
	}
	mac := hmac.New(sha256.New, k.MAC[:])
	mac.Write(iv[:])
	dec := cipher.NewCBCDecrypter(block, iv[:])
	var werr error
	write := func(p []byte) {
		if werr != nil || len(p) == 0 {
			return
		}
		m, e := w.Write(p)
		n += int64(m)
		if e != nil {
			werr = e
		}
	}
	// buf[0:16] holds the previous chunk's last plaintext block, withheld
	// because the final block carries the padding. (Handing each chunk's
	// Write to a second goroutine was tried: on two shared cores the
	// wake-ups cost more CPU than the overlap saved.)
	const bs = aes.BlockSize
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:bs+chunk]
	held := false
	for left := blobLen - blobOverhead; left > 0; {
		m := int(min(int64(chunk), left))
		ct := buf[bs : bs+m]
		if _, err := io.ReadFull(r, ct); err != nil {
			return n, unexpected(err)
		}
		mac.Write(ct)
		dec.CryptBlocks(ct, ct)
		if held {
			write(buf[:m])
		} else {
			write(buf[bs:m])
		}
		copy(buf[:bs], buf[m:bs+m])
		held = true
		left -= int64(m)
	}
	var tag [sha256.Size]byte
	if _, err := io.ReadFull(r, tag[:]); err != nil {
		return n, unexpected(err)
	}
	if !hmac.Equal(tag[:], mac.Sum(nil)) {
		return n, ErrDecrypt
	}
	last := buf[:bs]
	pad, ok := legacycrypto.PKCS7PadLen(last)
	if !ok {
		return n, ErrDecrypt
	}
	write(last[:bs-pad])
	if werr != nil {
		return n, &WriteError{werr}
	}
	return n, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// SealBytes encrypts pt in memory (tests, small bodies).
func (k *Keys) SealBytes(pt, iv []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(int(BlobLen(int64(len(pt)))))
	if err := k.Seal(&b, bytes.NewReader(pt), int64(len(pt)), iv); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// OpenBytes decrypts a whole body in memory.
func (k *Keys) OpenBytes(blob []byte) ([]byte, error) {
	var b bytes.Buffer
	if _, err := k.Open(&b, bytes.NewReader(blob), int64(len(blob))); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReadLine reads one header line of at most max bytes including its '\n',
// and returns it without the '\n'. As in the original, EOF also ends a
// line: a partial line is returned with a nil error, and io.EOF is
// returned only when nothing at all was read. A line longer than max is
// ErrLineTooLong.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, ErrLineTooLong
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// Request is a parsed header line.
type Request struct {
	Command string   // field 0, upper-cased
	Fields  []string // every field after the command, as sent
}

// ParseRequest decodes a header line the way the original does: strict
// UTF-8, strip surrounding whitespace, split on every '|', upper-case the
// command. Invalid UTF-8 is ErrMalformed.
func ParseRequest(line []byte) (Request, error) {
	if !utf8.Valid(line) {
		return Request{}, ErrMalformed
	}
	s := strings.TrimFunc(string(line), isPySpace)
	parts := strings.Split(s, "|")
	return Request{Command: strings.ToUpper(parts[0]), Fields: parts[1:]}, nil
}

// isPySpace matches Python's str.isspace, which also counts the
// information separators U+001C..U+001F that Go's unicode.IsSpace does not.
func isPySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// ParseSize parses SEND's size field: ASCII digits only, at most 19 of
// them (fits int64). The original's int() also took signs, underscores,
// spaces and non-ASCII digits; stock clients send none of those.
func ParseSize(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, ErrMalformed
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrMalformed
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrMalformed
	}
	return v, nil
}

// ValidName reports whether a file name may be stored and named as it
// is: the shared name policy (internal/names: one path component, no
// control or bidi characters, not "."/"..", at most 255 bytes of UTF-8, no
// reserved ".tmp-" prefix, no trailing white space) and no '|', which
// would split the request line. The original joined any name to its
// folder, so "../server_id.key" reached the server's key.
func ValidName(name string) bool {
	return names.Check(name) == nil && !strings.ContainsRune(name, '|')
}

// errPipe: a name holding '|' (it cannot come from a split line, but the
// Go client checks before sending).
var errPipe = errors.New("e2eeftp: name holds '|'")

// CleanName is the name a request's file name is stored and looked up
// under, the same on SEND, GET and DELETE: trailing white space removed
// (GET and DELETE lines lose it anyway when the line is stripped, so a
// name stored with it could never be named again), then ValidName's rules.
func CleanName(name string) (string, error) {
	n, err := names.Clean(name)
	if err == nil && strings.ContainsRune(n, '|') {
		err = errPipe
	}
	if err != nil {
		return "", err
	}
	return n, nil
}

// ParseStatus splits a status line (without '\n') into its code and text,
// the way the stock client does: strip, split once on '|'.
func ParseStatus(line []byte) (code int, text string, err error) {
	s := strings.TrimFunc(string(line), isPySpace)
	c, t, _ := strings.Cut(s, "|")
	if len(c) != 3 {
		return 0, "", fmt.Errorf("e2eeftp: bad status line %q", s)
	}
	code, err = strconv.Atoi(c)
	if err != nil || code < 100 {
		return 0, "", fmt.Errorf("e2eeftp: bad status line %q", s)
	}
	return code, t, nil
}
