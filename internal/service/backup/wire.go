// Package backup is the encrypted file-backup service: a byte-compatible
// replacement for the Maman 15 "EncryptedTCP" server (RSA-OAEP wrapped
// AES-128-CBC uploads checked with CRC-32). One request per connection,
// little-endian binary frames; see docs/backup.md and the spec.
//
// The protocol's crypto is weak by today's standards (RSA-1024 e=17,
// OAEP-SHA-1, AES-CBC with a zero IV, no MAC, CRC-32 as integrity); it is kept
// because existing clients depend on it.
package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/legacycrypto"
)

// Frame sizes and versions.
const (
	RequestHeaderSize  = 23
	ResponseHeaderSize = 7
	NameSize           = 255
	ClientIDSize       = 16
	// FileHeaderSize is content_size u32 + file_name[255] at the start of a
	// 1028 payload.
	FileHeaderSize = 4 + NameSize
	// ServerVersion is written in every response; request versions are
	// accepted whatever they say, as the original did.
	ServerVersion = 3
	// ClientVersion is what the original C++ client sends.
	ClientVersion = 1
	// OAEPBlobSize is the wrapped AES key for a 1024-bit RSA key, the only
	// size the C++ client accepts.
	OAEPBlobSize = 128
	// AESKeySize is the AES-128 session key.
	AESKeySize = 16
	// LegacyKeySize is the SPKI DER of an RSA-1024 e=17 key as Crypto++
	// writes it.
	LegacyKeySize = 160
	// MaxKeySize bounds the public key of a 1026: an RSA-4096 SPKI is 550
	// bytes. The original cut keys at 160 bytes.
	MaxKeySize = 1024
	// FileResponseSize is the 2103 payload.
	FileResponseSize = ClientIDSize + 4 + NameSize + 4
)

// Request codes.
const (
	CodeRegister  uint16 = 1025
	CodePublicKey uint16 = 1026
	CodeReconnect uint16 = 1027
	CodeFile      uint16 = 1028
	CodeCRCOK     uint16 = 1029
	CodeCRCRetry  uint16 = 1030
	CodeCRCFail   uint16 = 1031
)

// Response codes.
const (
	RespRegistered      uint16 = 2100
	RespRegisterFailed  uint16 = 2101 // defined by the protocol, never sent
	RespAESKey          uint16 = 2102
	RespFileCRC         uint16 = 2103
	RespAck             uint16 = 2104
	RespReconnected     uint16 = 2105
	RespReconnectDenied uint16 = 2106
	RespError           uint16 = 2107
)

// CodeName is a short label for metrics and logs.
func CodeName(code uint16) string {
	switch code {
	case CodeRegister:
		return "register"
	case CodePublicKey:
		return "public_key"
	case CodeReconnect:
		return "reconnect"
	case CodeFile:
		return "file"
	case CodeCRCOK:
		return "crc_ok"
	case CodeCRCRetry:
		return "crc_retry"
	case CodeCRCFail:
		return "crc_fail"
	case CodeList:
		return "list"
	case CodeRestore:
		return "restore"
	}
	return "unknown"
}

// ClientID is the 16 raw UUID bytes of the wire.
type ClientID [ClientIDSize]byte

// String is the lowercase dashed UUID form the store and me.info use.
func (id ClientID) String() string {
	const hx = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hx[c>>4], hx[c&0xf]
		j += 2
	}
	return string(b[:])
}

// ParseClientID reads the dashed (or plain 32-hex) UUID text form.
func ParseClientID(s string) (ClientID, error) {
	var id ClientID
	hexs := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if s[i] == '-' && (len(hexs) == 8 || len(hexs) == 12 || len(hexs) == 16 || len(hexs) == 20) {
			continue
		}
		hexs = append(hexs, s[i])
	}
	if len(hexs) != 32 {
		return id, fmt.Errorf("backup: client id %q: want 32 hex digits", s)
	}
	for i := range id {
		hi, ok1 := unhex(hexs[2*i])
		lo, ok2 := unhex(hexs[2*i+1])
		if !ok1 || !ok2 {
			return id, fmt.Errorf("backup: client id %q: not hex", s)
		}
		id[i] = hi<<4 | lo
	}
	return id, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// RequestHeader is the 23-byte request header.
type RequestHeader struct {
	ClientID    ClientID
	Version     uint8
	Code        uint16
	PayloadSize uint32
}

// AppendRequestHeader appends h's 23 bytes to b.
func AppendRequestHeader(b []byte, h RequestHeader) []byte {
	b = append(b, h.ClientID[:]...)
	b = append(b, h.Version)
	b = binary.LittleEndian.AppendUint16(b, h.Code)
	return binary.LittleEndian.AppendUint32(b, h.PayloadSize)
}

// ParseRequestHeader decodes exactly RequestHeaderSize bytes. Every value
// is acceptable at this level; codes and sizes are judged by the server.
func ParseRequestHeader(b []byte) (RequestHeader, error) {
	var h RequestHeader
	if len(b) != RequestHeaderSize {
		return h, fmt.Errorf("backup: request header is %d bytes, want %d", len(b), RequestHeaderSize)
	}
	copy(h.ClientID[:], b[:16])
	h.Version = b[16]
	h.Code = binary.LittleEndian.Uint16(b[17:19])
	h.PayloadSize = binary.LittleEndian.Uint32(b[19:23])
	return h, nil
}

// ResponseHeader is the 7-byte response header.
type ResponseHeader struct {
	Version     uint8
	Code        uint16
	PayloadSize uint32
}

// AppendResponseHeader appends h's 7 bytes to b.
func AppendResponseHeader(b []byte, h ResponseHeader) []byte {
	b = append(b, h.Version)
	b = binary.LittleEndian.AppendUint16(b, h.Code)
	return binary.LittleEndian.AppendUint32(b, h.PayloadSize)
}

// ParseResponseHeader decodes exactly ResponseHeaderSize bytes.
func ParseResponseHeader(b []byte) (ResponseHeader, error) {
	var h ResponseHeader
	if len(b) != ResponseHeaderSize {
		return h, fmt.Errorf("backup: response header is %d bytes, want %d", len(b), ResponseHeaderSize)
	}
	h.Version = b[0]
	h.Code = binary.LittleEndian.Uint16(b[1:3])
	h.PayloadSize = binary.LittleEndian.Uint32(b[3:7])
	return h, nil
}

// Response builds a whole response frame with version 3.
func Response(code uint16, payload []byte) []byte {
	b := make([]byte, 0, ResponseHeaderSize+len(payload))
	b = AppendResponseHeader(b, ResponseHeader{Version: ServerVersion, Code: code, PayloadSize: uint32(len(payload))})
	return append(b, payload...)
}

// Name errors.
var (
	ErrNameEmpty    = errors.New("backup: name is empty")
	ErrNameTooLong  = errors.New("backup: name field is longer than 255 bytes")
	ErrNameNoNUL    = errors.New("backup: name field is not NUL-terminated")
	ErrNameGarbage  = errors.New("backup: name field has bytes after its NUL terminator")
	ErrNameEncoding = errors.New("backup: name is not printable UTF-8")
)

// NameField encodes s as a 255-byte NUL-padded field. s must leave room for
// the terminator the original server requires.
func NameField(s string) ([NameSize]byte, error) {
	var f [NameSize]byte
	if len(s) > NameSize-1 {
		return f, ErrNameTooLong
	}
	if err := checkNameText(s); err != nil {
		return f, err
	}
	copy(f[:], s)
	return f, nil
}

// ParseName decodes a name field of 1..255 bytes the way the original
// validated it (not empty, not all NUL, last byte NUL) and, stricter, with
// nothing but NULs after the first NUL, valid UTF-8, no control characters.
func ParseName(field []byte) (string, error) {
	if len(field) > NameSize {
		return "", ErrNameTooLong
	}
	if len(field) == 0 {
		return "", ErrNameEmpty
	}
	if field[len(field)-1] != 0 {
		return "", ErrNameNoNUL
	}
	n := 0
	for n < len(field) && field[n] != 0 {
		n++
	}
	for _, c := range field[n:] {
		if c != 0 {
			return "", ErrNameGarbage
		}
	}
	s := string(field[:n])
	if s == "" {
		return "", ErrNameEmpty
	}
	if err := checkNameText(s); err != nil {
		return "", err
	}
	return s, nil
}

func checkNameText(s string) error {
	if !utf8.ValidString(s) {
		return ErrNameEncoding
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ErrNameEncoding
		}
	}
	return nil
}

// ErrBadFileName is returned for a file name that has no usable base name.
var ErrBadFileName = errors.New("backup: unsafe file name")

// StoredFileName maps the client's file name to the name kept in its folder:
// the last path element, whatever the path before it, so every path the
// C++ client may list in transfer.info backs up ("src/client.cpp",
// "/home/u/a.txt", "../notes.txt" → "notes.txt"; see docs/backup.md). Only
// a name without a usable last element (empty, ".", "..", a trailing
// separator) or with bytes ParseName refuses is refused. The base name is
// never joined to a path: blobs are named by the server (uploadBlobName).
func StoredFileName(name string) (string, error) {
	if name == "" || len(name) > NameSize-1 || checkNameText(name) != nil {
		return "", ErrBadFileName
	}
	base := name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		base = name[i+1:]
	}
	if base == "" || base == "." || base == ".." {
		return "", ErrBadFileName
	}
	return base, nil
}

// FileHeader is the fixed start of a 1028 payload.
type FileHeader struct {
	ContentSize uint32
	Name        [NameSize]byte
}

// ParseFileHeader decodes exactly FileHeaderSize bytes.
func ParseFileHeader(b []byte) (FileHeader, error) {
	var h FileHeader
	if len(b) != FileHeaderSize {
		return h, fmt.Errorf("backup: file header is %d bytes, want %d", len(b), FileHeaderSize)
	}
	h.ContentSize = binary.LittleEndian.Uint32(b[:4])
	copy(h.Name[:], b[4:])
	return h, nil
}

// FileResponse is the 2103 payload.
type FileResponse struct {
	ClientID ClientID
	Size     uint32
	Name     [NameSize]byte
	CRC      uint32
}

// Marshal returns the 279-byte payload.
func (r FileResponse) Marshal() []byte {
	b := make([]byte, 0, FileResponseSize)
	b = append(b, r.ClientID[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Size)
	b = append(b, r.Name[:]...)
	return binary.LittleEndian.AppendUint32(b, r.CRC)
}

// ParseFileResponse decodes a 2103 payload. Like the C++ client it takes the
// CRC from the last four bytes, but it insists on the exact size.
func ParseFileResponse(b []byte) (FileResponse, error) {
	var r FileResponse
	if len(b) != FileResponseSize {
		return r, fmt.Errorf("backup: 2103 payload is %d bytes, want %d", len(b), FileResponseSize)
	}
	copy(r.ClientID[:], b[:16])
	r.Size = binary.LittleEndian.Uint32(b[16:20])
	copy(r.Name[:], b[20:20+NameSize])
	r.CRC = binary.LittleEndian.Uint32(b[FileResponseSize-4:])
	return r, nil
}

// CRC is the protocol's checksum: plain CRC-32/IEEE (zlib) over the
// ciphertext, not POSIX cksum.
func CRC(ciphertext []byte) uint32 { return crc32.ChecksumIEEE(ciphertext) }

// PKCS7Unpad checks the padding of the final plaintext block and returns
// how many of its bytes are data. The check is legacycrypto.PKCS7PadLen's,
// in constant time.
func PKCS7Unpad(last []byte) (int, error) {
	if len(last) != 16 {
		return 0, errors.New("backup: padding block is not 16 bytes")
	}
	p, ok := legacycrypto.PKCS7PadLen(last)
	if !ok {
		return 0, errors.New("backup: bad PKCS#7 padding")
	}
	return 16 - p, nil
}
