package backup

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"gatehouse/internal/legacycrypto"
)

// Restore errors.
var (
	ErrUnknownFile    = errors.New("backup: the server has no verified version of that file")
	ErrUnknownVersion = errors.New("backup: the server has no such version of that file")
	ErrBadOffset      = errors.New("backup: the server refused the resume offset")
	ErrRestoreCRC     = errors.New("backup: restored data does not match its CRC")
)

// List sends 1032 and returns every version of every file the server keeps
// for this client (a Gatehouse extension; needs the AES key from Reconnect
// or ExchangeKeys). A 2106 is ErrReconnectDenied.
func (c *Client) List(ctx context.Context) (Listing, error) {
	if len(c.AESKey) != AESKeySize {
		return Listing{}, errors.New("backup: no AES key: reconnect first")
	}
	f, err := NameField(c.Name)
	if err != nil {
		return Listing{}, err
	}
	h, p, err := c.Call(ctx, CodeList, f[:])
	if err != nil {
		return Listing{}, err
	}
	switch h.Code {
	case RespList:
	case RespReconnectDenied:
		return Listing{}, ErrReconnectDenied
	default:
		return Listing{}, &ResponseError{CodeList, h.Code}
	}
	plain, err := DecryptFile(c.AESKey, p)
	if err != nil {
		return Listing{}, fmt.Errorf("backup: listing does not decrypt with our key: %w", err)
	}
	return ParseListing(plain)
}

// RestoreResult describes a restore.
type RestoreResult struct {
	Header  RestoreHeader
	Written int64 // plaintext bytes written to w (after the prefix)
}

// Restore sends 1033 for version (0: the latest) of name and writes the
// file's plaintext to w, checking the CRC-32 of the whole ciphertext and
// the padding. prefix, when prefixLen > 0, is plaintext of the same
// version the caller already has from an interrupted restore (prefixLen a
// multiple of 16 and version explicit): it is encrypted again here, which
// gives the CBC chain and the CRC so far, and only the rest is asked for
// and written. Progress, when set, receives the ciphertext as it arrives.
func (c *Client) Restore(ctx context.Context, name string, version uint32, prefix io.Reader, prefixLen int64, w io.Writer) (RestoreResult, error) {
	var res RestoreResult
	if len(c.AESKey) != AESKeySize {
		return res, errors.New("backup: no AES key: reconnect first")
	}
	if prefixLen < 0 || prefixLen%aes.BlockSize != 0 || prefixLen > 0 && version == 0 {
		return res, errors.New("backup: a resumed restore needs an explicit version and a prefix of whole blocks")
	}
	nf, err := NameField(name)
	if err != nil {
		return res, err
	}
	block, err := aes.NewCipher(c.AESKey)
	if err != nil {
		return res, err
	}
	// The prefix's ciphertext: its CRC and its last block (the IV of what
	// follows).
	var crc uint32
	iv := legacycrypto.ZeroIV()
	if prefixLen > 0 {
		enc := legacycrypto.NewCBCEncrypterZeroIV(block)
		buf := make([]byte, chunkSize)
		for left := prefixLen; left > 0; {
			n := int(min(int64(chunkSize), left))
			if _, err := io.ReadFull(prefix, buf[:n]); err != nil {
				return res, fmt.Errorf("backup: reading the partial file: %w", err)
			}
			enc.CryptBlocks(buf[:n], buf[:n])
			crc = crc32.Update(crc, crc32.IEEETable, buf[:n])
			copy(iv[:], buf[n-aes.BlockSize:n])
			left -= int64(n)
		}
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := RestoreRequest{Name: nf, Version: version, Offset: uint64(prefixLen)}.Marshal()
	if _, err := conn.Write(append(c.header(CodeRestore, uint32(len(req))), req...)); err != nil {
		return res, err
	}
	var hb [ResponseHeaderSize]byte
	if _, err := io.ReadFull(conn, hb[:]); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNoResponse, err)
	}
	rh, _ := ParseResponseHeader(hb[:])
	switch rh.Code {
	case RespRestore:
	case RespNotFound:
		var why [1]byte
		if rh.PayloadSize != 1 {
			return res, &ResponseError{CodeRestore, rh.Code}
		}
		if _, err := io.ReadFull(conn, why[:]); err != nil {
			return res, fmt.Errorf("%w: %w", ErrNoResponse, err)
		}
		switch why[0] {
		case NotFoundFile:
			return res, fmt.Errorf("%w: %s", ErrUnknownFile, name)
		case NotFoundVersion:
			return res, fmt.Errorf("%w: %s version %d", ErrUnknownVersion, name, version)
		case NotFoundOffset:
			return res, ErrBadOffset
		}
		return res, &ResponseError{CodeRestore, rh.Code}
	case RespReconnectDenied:
		return res, ErrReconnectDenied
	default:
		return res, &ResponseError{CodeRestore, rh.Code}
	}
	var fb [RestoreHeaderSize]byte
	if rh.PayloadSize < RestoreHeaderSize {
		return res, fmt.Errorf("backup: %d-byte restore answer", rh.PayloadSize)
	}
	if _, err := io.ReadFull(conn, fb[:]); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNoResponse, err)
	}
	hdr, err := ParseRestoreHeader(fb[:])
	if err != nil {
		return res, err
	}
	res.Header = hdr
	left := int64(hdr.CipherSize - hdr.Offset)
	if hdr.Offset != uint64(prefixLen) || uint64(rh.PayloadSize) != RestoreHeaderSize+uint64(left) ||
		version != 0 && hdr.Version != version {
		return res, fmt.Errorf("backup: restore answer for version %d from %d (%d bytes) does not match the request", hdr.Version, hdr.Offset, rh.PayloadSize)
	}
	var in io.Reader = conn
	if c.Progress != nil {
		in = io.TeeReader(conn, c.Progress(name, int64(hdr.CipherSize)-prefixLen))
	}
	dec := cipher.NewCBCDecrypter(block, iv[:])
	ct := make([]byte, chunkSize)
	pt := make([]byte, chunkSize+aes.BlockSize)
	var last [aes.BlockSize]byte
	haveLast := false
	write := func(p []byte) error {
		n, err := w.Write(p)
		res.Written += int64(n)
		return err
	}
	for left > 0 {
		n := int(min(int64(chunkSize), left))
		if _, err := io.ReadFull(in, ct[:n]); err != nil {
			return res, fmt.Errorf("backup: restore cut short after %d of %d bytes: %w", int64(hdr.CipherSize)-left, hdr.CipherSize, err)
		}
		left -= int64(n)
		crc = crc32.Update(crc, crc32.IEEETable, ct[:n])
		dec.CryptBlocks(pt[aes.BlockSize:aes.BlockSize+n], ct[:n])
		out := pt[aes.BlockSize:n]
		if haveLast {
			copy(pt[:aes.BlockSize], last[:])
			out = pt[:n]
		}
		copy(last[:], pt[n:n+aes.BlockSize])
		haveLast = true
		if err := write(out); err != nil {
			return res, err
		}
	}
	if crc != hdr.CRC {
		return res, fmt.Errorf("%w: got %08x, server says %08x", ErrRestoreCRC, crc, hdr.CRC)
	}
	keep, err := PKCS7Unpad(last[:])
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrRestoreCRC, err)
	}
	if err := write(last[:keep]); err != nil {
		return res, err
	}
	return res, nil
}
