// Package cloudreport is the Linux Cloud Report Server (a port of the Delphi
// CloudTcpServer): a line-based ASCII protocol whose payloads are zlib data,
// encrypted with a key every client can derive, in base64 inside DATA=.
//
// Two dialects share one state machine. "seed" is the contract: byte for
// byte what the Python port (LinuxCloudReportServer@ae8deed) sends. "delphi"
// is experimental: Indy-style "NNN text" replies, the host part of the key
// from HST=, and DCPcrypt's Rijndael/CFB-8 (see docs/cloudreport.md for what
// was and was not verified). Neither dialect is confidential: the keys are
// guessable and nothing is authenticated; treat it as obfuscation.
//
// This file holds framing, parsing, key derivation and the payload codecs;
// it does no I/O.
package cloudreport

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
	"fmt"
	"hash/adler32"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/legacycrypto"
)

// Limits of the wire; the configurable ones are defaults of Options.
const (
	// DefaultMaxLine is the seed's asyncio readline limit: a request line
	// longer than this (without its LF) closes the connection.
	DefaultMaxLine = 64 << 10
	// DefaultMaxInflate bounds what one DATA payload may inflate to.
	DefaultMaxInflate = 1 << 20
	// maxIntDigits is CPython's int_max_str_digits: longer INIT IDs are
	// "not a number" there too.
	maxIntDigits = 4300
	// maxClientID bounds a registry id (real ones are 8 hex digits).
	maxClientID = 64
)

// DefaultServerKey is the KEY the seed always announces.
const DefaultServerKey = "D5F2"

// Dictionary is the shared crypto dictionary, indexed by INIT ID - 1.
var Dictionary = [10]string{
	"123hk12h8dcal", "FT676Ugug6sFa", "a6xbBa7A8a9la", "qMnxbtyTFvcqi", "cx7812vcxFRCC",
	"bab7u682ftysv", "YGbsux&Ygsyxg", "MSN><hu8asG&&", "23yY88syHXvvs", "987sX&sysy891",
}

// Dialect selects the reply grammar and crypto profile.
type Dialect int

const (
	// Seed is the Python port's wire (the contract).
	Seed Dialect = iota
	// Delphi is the experimental Indy/DCPcrypt profile of the original.
	Delphi
)

func (d Dialect) String() string {
	if d == Delphi {
		return "delphi"
	}
	return "seed"
}

// ParseDialect accepts "seed" (or empty) and "delphi".
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "", "seed":
		return Seed, nil
	case "delphi", "indy":
		return Delphi, nil
	}
	return Seed, fmt.Errorf("cloudreport: unknown dialect %q (want seed or delphi)", s)
}

// ---- Latin-1 text, the way the seed's Python str methods treat it ----

// isSpace is Python's str.isspace restricted to Latin-1: besides ASCII
// whitespace it includes the separators 0x1C-0x1F, NEL (0x85) and NBSP (0xA0).
func isSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

func strip(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// fields is Python's str.split() with no argument.
func fields(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(b); {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		j := i
		for j < len(b) && !isSpace(b[j]) {
			j++
		}
		if j > i {
			out = append(out, b[i:j])
		}
		i = j
	}
	return out
}

// upper is Python's str.upper on Latin-1 text, re-encoded as Latin-1. Three
// characters have upper cases outside Latin-1 (µ→Μ, ÿ→Ÿ) or expand (ß→SS);
// the seed then failed to encode its reply and sent nothing, leaving the
// client hanging. We send '?' for the two that cannot be encoded.
func upper(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			sb.WriteByte(c - 32)
		case c == 0xdf:
			sb.WriteString("SS")
		case c == 0xb5 || c == 0xff:
			sb.WriteByte('?')
		case c >= 0xe0 && c <= 0xfe && c != 0xf7:
			sb.WriteByte(c - 32)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// Latin1ToUTF8 converts wire text (one byte per character) to Go text.
func Latin1ToUTF8(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// UTF8ToLatin1 converts Go text to wire text; characters above U+00FF
// become '?'.
func UTF8ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}

// ---- Request lines ----

// Request is one parsed request line.
type Request struct {
	Cmd    string   // first token, upper-cased as Python does ("" never: see ParseLine)
	Tokens []string // the other tokens, as sent
	Rest   string   // everything after the command token, stripped
}

// ParseLine parses one request line (its LF already removed). It reports
// false for an empty or whitespace-only line, which closes the connection.
func ParseLine(line []byte) (Request, bool) {
	line = strip(line)
	if len(line) == 0 {
		return Request{}, false
	}
	toks := fields(line)
	r := Request{Cmd: upper(toks[0])}
	for _, t := range toks[1:] {
		r.Tokens = append(r.Tokens, string(t))
	}
	r.Rest = string(strip(line[len(toks[0]):]))
	return r, true
}

// Param returns the value of the last KEY=value token whose key, upper-cased,
// equals key (the seed builds a dict, so the last one wins).
func (r Request) Param(key string) (string, bool) {
	val, found := "", false
	for _, t := range r.Tokens {
		k, v, ok := strings.Cut(t, "=")
		if ok && upper([]byte(k)) == key {
			val, found = v, true
		}
	}
	return val, found
}

// ---- INIT ----

// Errors of INIT parsing; the server maps them to the dialect's reply.
var (
	ErrInitFormat = errors.New("cloudreport: invalid INIT command format")
	ErrInitID     = errors.New("cloudreport: invalid client ID")
)

// InitArgs is a parsed INIT request.
type InitArgs struct {
	Text  string // the ID as Python's str(int(…)) prints it: "007" → "7"
	Index int    // the dictionary index 1..10, or 0 when out of range
	HST   string // the HST= parameter (Latin-1 bytes), "" when absent
}

// ParseInit applies the seed's rules: the second token must start with a
// case-sensitive "ID=", and the number is the text between the first and
// the second '=' read with Python's int() (sign, underscores between digits,
// leading zeros; at most 4300 digits).
func ParseInit(r Request) (InitArgs, error) {
	if len(r.Tokens) == 0 || !strings.HasPrefix(r.Tokens[0], "ID=") {
		return InitArgs{}, ErrInitFormat
	}
	num := strings.SplitN(r.Tokens[0], "=", 3)[1]
	text, idx, ok := pyInt(num)
	if !ok {
		return InitArgs{}, ErrInitID
	}
	a := InitArgs{Text: text, Index: idx}
	a.HST, _ = r.Param("HST")
	return a, nil
}

// pyInt reads s like Python's int(s, 10) and returns str() of the value and
// the value itself when it is 1..10 (else 0).
func pyInt(s string) (text string, small int, ok bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return "", 0, false
	}
	digits := make([]byte, 0, len(s))
	prevUnderscore := true // no leading underscore
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			prevUnderscore = false
		case c == '_' && !prevUnderscore:
			prevUnderscore = true
		default:
			return "", 0, false
		}
	}
	if prevUnderscore || len(digits) > maxIntDigits {
		return "", 0, false
	}
	d := strings.TrimLeft(string(digits), "0")
	if d == "" {
		return "0", 0, true
	}
	if neg {
		return "-" + d, 0, true
	}
	if len(d) <= 2 {
		if n, _ := strconv.Atoi(d); n >= 1 && n <= 10 {
			return d, n, true
		}
	}
	return d, 0, true
}

// KeyLen is the LEN the server announces for a dictionary index.
func KeyLen(index int) int {
	if index == 9 {
		return 2
	}
	return 1
}

// SeedKey is the seed's KeyManager.get_key_for_client_id: fixed keys for 5
// and 9 (leftovers of a build that ignored the host), otherwise serverKey +
// the first LEN characters of the dictionary entry (entry 1 when the index
// is out of range) + the host's first two and last characters, with "NE"
// and "-" standing in for a short or empty host.
func SeedKey(serverKey string, index int, host string) string {
	switch index {
	case 5:
		return serverKey + "cNE-"
	case 9:
		return serverKey + "2NE-"
	}
	if index < 1 || index > 10 {
		index = 1
	}
	first, last := "NE", "-"
	if len(host) >= 2 {
		first = host[:2]
	}
	if host != "" {
		last = host[len(host)-1:]
	}
	return serverKey + Dictionary[index-1][:KeyLen(index)] + first + last
}

// DelphiKey is the key as the Delphi client builds it (spec E1): KEY, the
// first LEN characters of dictionary entry index, then Copy(host,1,2) and
// Copy(host,Length(host),1). index must be 1..10 and host non-empty.
func DelphiKey(serverKey string, index, keyLen int, host string) string {
	e := Dictionary[index-1]
	keyLen = max(0, min(keyLen, len(e)))
	first := host
	if len(first) > 2 {
		first = first[:2]
	}
	return serverKey + e[:keyLen] + first + host[len(host)-1:]
}

// ---- Payload fields ----

// Field is one KEY=value line of a payload.
type Field struct{ Key, Value string }

// Fields is an ordered payload.
type Fields []Field

// Get returns the value of the last field named key (ASCII case-insensitive).
func (f Fields) Get(key string) (string, bool) {
	for i := len(f) - 1; i >= 0; i-- {
		if strings.EqualFold(f[i].Key, key) {
			return f[i].Value, true
		}
	}
	return "", false
}

// Format joins the fields as "K=V" lines with CRLF and no trailing CRLF.
func (f Fields) Format() []byte {
	var b bytes.Buffer
	for i, kv := range f {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(kv.Key)
		b.WriteByte('=')
		b.WriteString(kv.Value)
	}
	return b.Bytes()
}

// ParseFields is the seed's parse_data_parameter: items are separated by the
// first separator present among CRLF, LF and ';'; an item without '=' is
// skipped; key and value are stripped.
func ParseFields(b []byte) Fields {
	var sep []byte
	for _, s := range [][]byte{[]byte("\r\n"), []byte("\n"), []byte(";")} {
		if bytes.Contains(b, s) {
			sep = s
			break
		}
	}
	items := [][]byte{b}
	if sep != nil {
		items = bytes.Split(b, sep)
	}
	var out Fields
	for _, it := range items {
		k, v, ok := bytes.Cut(it, []byte("="))
		if !ok {
			continue
		}
		out = append(out, Field{string(strip(k)), string(strip(v))})
	}
	return out
}

// ---- Codecs ----

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

// ---- Replies ----

// Reply bytes shared by both dialects.
func initReply(key string, keyLen int) []byte {
	return []byte("200-KEY=" + key + "\r\n200 LEN=" + strconv.Itoa(keyLen) + "\r\n")
}

func dataReply(d Dialect, data string) []byte {
	return []byte(dataReplyPrefix(d) + data + "\r\n")
}

// dataReplyPrefix is what precedes the DATA= text of a data reply.
func dataReplyPrefix(d Dialect) string {
	if d == Delphi {
		return "200 DATA="
	}
	return "200 OK\r\nDATA="
}

func pongReply(d Dialect) []byte {
	if d == Delphi {
		return []byte("200\r\n")
	}
	return []byte("PONG\r\n")
}

func okReply(d Dialect) []byte {
	if d == Delphi {
		return []byte("200\r\n")
	}
	return []byte("200 OK\r\n")
}

// failure is one error reply kind.
type failure int

const (
	failNotInit failure = iota
	failInitFormat
	failInitID
	failHostEmpty
	failDuplicate
	failDecrypt
	failMissingData
	failNotFound
	failNotAuth
	failBadName
	failUnknown
	failVers
	failDwnl
	failErrl
	failInternal
)

// errorReply renders a failure; arg is the ID or command the text names.
// Seed texts are the seed's exact strings; Delphi codes follow the numeric
// table of the original (spec §3.3).
func errorReply(d Dialect, f failure, arg string) []byte {
	var code, text string
	switch f {
	case failNotInit:
		code, text = "510", "Client not initialized. Send INIT command first."
	case failInitFormat:
		code, text = "510", "Invalid INIT command format. Use: INIT ID=x"
	case failInitID:
		code, text = "510", "Invalid client ID. Must be a number."
		if d == Delphi {
			code, text = "501", "Invalid client ID: "+arg
		}
	case failHostEmpty:
		code, text = "501", "Hostname is empty"
	case failDuplicate:
		code, text = "511", "Client ID "+arg+" already connected. Please try again later."
	case failDecrypt:
		code, text = "504", "Failed to decrypt data"
	case failMissingData:
		code, text = "502", "Missing DATA parameter"
	case failNotFound:
		code, text = "502", "Error object not found"
	case failNotAuth:
		code, text = "530", "Client not authenticated. Send INFO command first."
	case failBadName:
		code, text = "530", "Invalid file name"
	case failUnknown:
		code, text = "503", "Unknown command: "+arg
	case failVers:
		code, text = "530", "Error processing VERS command: updates unavailable"
	case failDwnl:
		code, text = "530", "Error processing DWNL command: updates unavailable"
	case failErrl:
		// The seed's "Error processing ERRL command: <exception>" without
		// the exception; 520 is the original's "receive report error".
		code, text = "520", "Error processing ERRL command: report not stored"
	default:
		code, text = "500", "Internal server error"
	}
	if d == Delphi {
		return []byte(code + " " + text + "\r\n")
	}
	return []byte("ERROR " + text + "\r\n")
}

// ---- Dates ----

// AddYears adds n calendar years, mapping 29 February to 28 February in a
// year that has none (the seed's date.replace(year=y+1) raised there and
// broke INFO every leap day).
func AddYears(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	if m == time.February && d == 29 {
		if ny := y + n; !(ny%4 == 0 && (ny%100 != 0 || ny%400 == 0)) {
			d = 28
		}
	}
	return time.Date(y+n, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// ValidClientID reports whether id may be a registry id: 1..64 characters
// of [A-Za-z0-9._-].
func ValidClientID(id string) bool {
	if id == "" || len(id) > maxClientID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidUpdateName reports whether name may name a file in the updates
// folder: 1..128 characters of [A-Za-z0-9._-], not starting with '.', so no
// separator, traversal or hidden file can come from the wire.
func ValidUpdateName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
