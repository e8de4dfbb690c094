package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The restore extension (docs/backup.md, "Restore: a Gatehouse
// extension"). Original clients never send these codes; to them the
// server answers exactly as before.
const (
	// CodeList asks for the client's files and their versions. Payload:
	// the client's registered name[255], as in 1027.
	CodeList uint16 = 1032
	// CodeRestore asks for one version of one file. Payload: RestoreRequest.
	CodeRestore uint16 = 1033

	// RespList carries the listing, AES-CBC encrypted like an upload.
	RespList uint16 = 2108
	// RespRestore carries a RestoreHeader and then the ciphertext.
	RespRestore uint16 = 2109
	// RespNotFound names what a 1033 asked for that does not exist: its
	// payload is one NotFound* byte.
	RespNotFound uint16 = 2110
)

// RespNotFound reasons.
const (
	NotFoundFile    byte = 1
	NotFoundVersion byte = 2
	NotFoundOffset  byte = 3
)

// respStreamed is handle's way of saying the response went out already.
const respStreamed uint16 = 0xffff

// RestoreRequestSize is the 1033 payload: file_name[255] | version u32 |
// offset u64.
const RestoreRequestSize = NameSize + 4 + 8

// RestoreRequest asks for a version (0: the latest) of a file from a byte
// offset into its ciphertext (a multiple of 16 below the ciphertext size;
// 0 for all of it).
type RestoreRequest struct {
	Name    [NameSize]byte
	Version uint32
	Offset  uint64
}

// Marshal returns the 267-byte payload.
func (r RestoreRequest) Marshal() []byte {
	b := make([]byte, 0, RestoreRequestSize)
	b = append(b, r.Name[:]...)
	b = binary.LittleEndian.AppendUint32(b, r.Version)
	return binary.LittleEndian.AppendUint64(b, r.Offset)
}

// ParseRestoreRequest decodes exactly RestoreRequestSize bytes.
func ParseRestoreRequest(b []byte) (RestoreRequest, error) {
	var r RestoreRequest
	if len(b) != RestoreRequestSize {
		return r, fmt.Errorf("backup: 1033 payload is %d bytes, want %d", len(b), RestoreRequestSize)
	}
	copy(r.Name[:], b[:NameSize])
	r.Version = binary.LittleEndian.Uint32(b[NameSize:])
	r.Offset = binary.LittleEndian.Uint64(b[NameSize+4:])
	return r, nil
}

// RestoreHeaderSize is the fixed start of a 2109 payload.
const RestoreHeaderSize = 4 + 8 + 8 + 8 + 4 + 8

// UnknownSize is a plaintext size the server does not know (files stored
// at rest before versions existed); the ciphertext still says it.
const UnknownSize = ^uint64(0)

// RestoreHeader starts a 2109 payload; the ciphertext bytes
// [Offset, CipherSize) follow it.
type RestoreHeader struct {
	Version    uint32
	Size       uint64 // the file's plaintext size, or UnknownSize
	CipherSize uint64 // the whole ciphertext's size
	Offset     uint64 // where the ciphertext that follows starts
	CRC        uint32 // CRC-32 of the whole ciphertext (bytes 0..CipherSize)
	UploadedAt int64  // Unix seconds, UTC
}

// Marshal returns the 40 bytes.
func (h RestoreHeader) Marshal() []byte {
	b := make([]byte, 0, RestoreHeaderSize)
	b = binary.LittleEndian.AppendUint32(b, h.Version)
	b = binary.LittleEndian.AppendUint64(b, h.Size)
	b = binary.LittleEndian.AppendUint64(b, h.CipherSize)
	b = binary.LittleEndian.AppendUint64(b, h.Offset)
	b = binary.LittleEndian.AppendUint32(b, h.CRC)
	return binary.LittleEndian.AppendUint64(b, uint64(h.UploadedAt))
}

// ParseRestoreHeader decodes exactly RestoreHeaderSize bytes.
func ParseRestoreHeader(b []byte) (RestoreHeader, error) {
	var h RestoreHeader
	if len(b) != RestoreHeaderSize {
		return h, fmt.Errorf("backup: restore header is %d bytes, want %d", len(b), RestoreHeaderSize)
	}
	h.Version = binary.LittleEndian.Uint32(b)
	h.Size = binary.LittleEndian.Uint64(b[4:])
	h.CipherSize = binary.LittleEndian.Uint64(b[12:])
	h.Offset = binary.LittleEndian.Uint64(b[20:])
	h.CRC = binary.LittleEndian.Uint32(b[28:])
	h.UploadedAt = int64(binary.LittleEndian.Uint64(b[32:]))
	if h.CipherSize%16 != 0 || h.CipherSize == 0 || h.Offset%16 != 0 || h.Offset >= h.CipherSize {
		return h, fmt.Errorf("backup: restore header: ciphertext %d bytes from %d is not whole blocks", h.CipherSize, h.Offset)
	}
	if h.Size != UnknownSize && CiphertextSize(int64(min(h.Size, 1<<40))) != int64(h.CipherSize) {
		return h, fmt.Errorf("backup: restore header: %d plaintext bytes cannot be %d of ciphertext", h.Size, h.CipherSize)
	}
	return h, nil
}

// ListEntry is one version in a 2108 listing.
type ListEntry struct {
	Name       string
	Version    uint32
	Size       uint64 // plaintext bytes, or UnknownSize
	CipherSize uint64
	CRC        uint32
	UploadedAt int64 // Unix seconds, UTC
}

// Listing is the plaintext of a 2108: count u32 | flags u32 | entries, each
// name_len u8 | name | version u32 | size u64 | cipher_size u64 | crc u32 |
// uploaded_at i64.
type Listing struct {
	Truncated bool // the server had more versions than one answer holds
	Entries   []ListEntry
}

// MaxListEntries bounds one listing (about 8 MiB, under the 10 MiB the
// clients accept).
const MaxListEntries = 30000

const listEntryFixed = 1 + 4 + 8 + 8 + 4 + 8

// Marshal encodes the listing's plaintext.
func (l Listing) Marshal() []byte {
	b := make([]byte, 0, 8+len(l.Entries)*(listEntryFixed+32))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Entries)))
	var flags uint32
	if l.Truncated {
		flags |= 1
	}
	b = binary.LittleEndian.AppendUint32(b, flags)
	for _, e := range l.Entries {
		b = append(b, byte(len(e.Name)))
		b = append(b, e.Name...)
		b = binary.LittleEndian.AppendUint32(b, e.Version)
		b = binary.LittleEndian.AppendUint64(b, e.Size)
		b = binary.LittleEndian.AppendUint64(b, e.CipherSize)
		b = binary.LittleEndian.AppendUint32(b, e.CRC)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.UploadedAt))
	}
	return b
}

var errBadListing = errors.New("backup: malformed listing")

// ParseListing decodes a listing's plaintext; it never trusts the count
// beyond the bytes present.
func ParseListing(b []byte) (Listing, error) {
	var l Listing
	if len(b) < 8 {
		return l, errBadListing
	}
	n := binary.LittleEndian.Uint32(b)
	flags := binary.LittleEndian.Uint32(b[4:])
	if flags&^1 != 0 {
		return l, errBadListing
	}
	l.Truncated = flags&1 != 0
	b = b[8:]
	if uint64(n) > uint64(len(b))/listEntryFixed {
		return l, errBadListing
	}
	l.Entries = make([]ListEntry, 0, n)
	for range n {
		if len(b) < 1 {
			return l, errBadListing
		}
		nl := int(b[0])
		if len(b) < 1+nl+listEntryFixed-1 {
			return l, errBadListing
		}
		e := ListEntry{Name: string(b[1 : 1+nl])}
		b = b[1+nl:]
		e.Version = binary.LittleEndian.Uint32(b)
		e.Size = binary.LittleEndian.Uint64(b[4:])
		e.CipherSize = binary.LittleEndian.Uint64(b[12:])
		e.CRC = binary.LittleEndian.Uint32(b[20:])
		e.UploadedAt = int64(binary.LittleEndian.Uint64(b[24:]))
		b = b[32:]
		l.Entries = append(l.Entries, e)
	}
	if len(b) != 0 {
		return l, errBadListing
	}
	return l, nil
}
