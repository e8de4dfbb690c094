package backup

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// restoreClient finds the client of a 1032/1033 and opens its AES key. ok
// is false when the answer is already decided (code).
func (s *Server) restoreClient(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID) (cl store.BackupClient, key []byte, code uint16, err error) {
	cl, err = s.db.BackupClient(ctx, id.String())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.Log().Error("restore: store", "err", err)
			rq.status = netsvc.StatusServerError
			return cl, nil, RespError, nil
		}
		return cl, nil, RespReconnectDenied, nil
	}
	if !cl.HasKeys() {
		return cl, nil, RespReconnectDenied, nil
	}
	key, err = s.seal.open(cl.AESKey, cl.ID)
	if err != nil {
		c.Log().Error("restore: stored AES key unusable", "client", cl.ID, "err", err)
		rq.status = netsvc.StatusServerError
		return cl, nil, RespError, nil
	}
	return cl, key, 0, nil
}

// cipherSize is the size of a version's ciphertext: what is stored when the
// blob holds ciphertext, else what encrypting the stored plaintext gives.
func cipherSize(v store.BackupVersion) int64 {
	if v.AtRestKey != nil {
		return v.Size
	}
	return CiphertextSize(v.Size)
}

func plainSizeOf(v store.BackupVersion) uint64 {
	if v.PlainSize < 0 {
		return UnknownSize
	}
	return uint64(v.PlainSize)
}

// list answers a 1032: every version of every file of the client, encrypted
// with its AES key (names are nobody else's business). The payload is the
// registered name, checked like a 1027's.
func (s *Server) list(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID, p []byte) (uint16, []byte, error) {
	name, err := ParseName(p[:min(len(p), NameSize)])
	if err != nil {
		c.Log().Info("list refused", "client", id.String(), "err", err)
		return RespError, nil, nil
	}
	cl, key, code, _ := s.restoreClient(ctx, c, rq, id)
	if code != 0 {
		return code, nil, nil
	}
	if cl.Name != name {
		c.Log().Info("list refused: name does not match", "client", cl.ID)
		return RespReconnectDenied, nil, nil
	}
	vs, err := s.db.BackupVersions(ctx, cl.ID, "")
	if err != nil {
		c.Log().Error("list: store", "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	var l Listing
	for _, v := range vs {
		if len(l.Entries) == MaxListEntries {
			l.Truncated = true
			break
		}
		l.Entries = append(l.Entries, ListEntry{Name: v.FileName, Version: uint32(v.Version), Size: plainSizeOf(v),
			CipherSize: uint64(cipherSize(v)), CRC: v.CRC, UploadedAt: v.UploadedAt.Unix()})
	}
	ct, err := EncryptFile(key, l.Marshal())
	if err != nil {
		return RespError, nil, err
	}
	c.Log().Info("versions listed", "client", cl.ID, "entries", len(l.Entries), "truncated", l.Truncated)
	return RespList, ct, nil
}

// restore answers a 1033 with one version of one file: a RestoreHeader,
// then the file encrypted with the client's current AES key exactly as an
// upload is (AES-128-CBC, zero IV, PKCS#7), from the requested offset. It
// is streamed chunk by chunk, so memory stays flat whatever the size.
func (s *Server) restore(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID, p []byte) (uint16, []byte, error) {
	log := c.Log()
	req, err := ParseRestoreRequest(p)
	if err != nil {
		log.Info("restore refused", "client", id.String(), "err", err)
		return RespError, nil, nil
	}
	name, err := ParseName(req.Name[:])
	var stored string
	if err == nil {
		stored, err = StoredFileName(name)
	}
	if err != nil {
		log.Info("restore refused: bad file name", "client", id.String(), "err", err)
		return RespNotFound, []byte{NotFoundFile}, nil
	}
	cl, key, code, _ := s.restoreClient(ctx, c, rq, id)
	if code != 0 {
		return code, nil, nil
	}
	vs, err := s.db.BackupVersions(ctx, cl.ID, stored)
	if err != nil {
		log.Error("restore: store", "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	if len(vs) == 0 {
		log.Info("restore: no such file", "client", cl.ID, "file", stored)
		return RespNotFound, []byte{NotFoundFile}, nil
	}
	v := vs[len(vs)-1]
	if req.Version != 0 {
		found := false
		for _, x := range vs {
			if x.Version == int64(req.Version) {
				v, found = x, true
			}
		}
		if !found {
			log.Info("restore: no such version", "client", cl.ID, "file", stored, "version", req.Version)
			return RespNotFound, []byte{NotFoundVersion}, nil
		}
	}
	ctSize := cipherSize(v)
	if req.Offset%aes.BlockSize != 0 || req.Offset >= uint64(ctSize) {
		log.Info("restore: bad offset", "client", cl.ID, "offset", req.Offset, "ciphertext", ctSize)
		return RespNotFound, []byte{NotFoundOffset}, nil
	}
	// A missing blob is told apart before the answer starts; later
	// failures can only cut the stream short.
	if _, err := s.blobs.Stat(ctx, v.Path); err != nil {
		log.Error("restore: stored file unreadable", "client", cl.ID, "file", stored, "version", v.Version, "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	src, err := s.versionSource(v, key)
	if err != nil {
		log.Error("restore: stored key unusable", "client", cl.ID, "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	crc := v.CRC
	if !src.sameKey {
		// The client's key changed since the upload (allow_key_replace), or
		// the upload's key is not recorded: the stored CRC describes other
		// ciphertext. One pass without sending finds the right one.
		if crc, err = s.encryptVersion(ctx, src, io.Discard, ctSize); err != nil {
			log.Error("restore: reading the stored file", "client", cl.ID, "file", stored, "err", err)
			return rq.answer(netsvc.StatusServerError, RespError)
		}
	}
	hdr := RestoreHeader{Version: uint32(v.Version), Size: plainSizeOf(v), CipherSize: uint64(ctSize),
		Offset: req.Offset, CRC: crc, UploadedAt: v.UploadedAt.Unix()}
	frame := AppendResponseHeader(make([]byte, 0, ResponseHeaderSize+RestoreHeaderSize), ResponseHeader{
		Version: ServerVersion, Code: RespRestore, PayloadSize: uint32(RestoreHeaderSize + ctSize - int64(req.Offset))})
	frame = append(frame, hdr.Marshal()...)
	// A slow reader is held to the progressive minimum rate (min_rate after
	// rate_grace) for the whole stream, on top of write_timeout per write.
	c.StartTransfer()
	defer c.EndTransfer()
	if _, err := c.Write(frame); err != nil {
		return respStreamed, nil, fmt.Errorf("backup: restore: %w", err)
	}
	out := &skipWriter{w: c, skip: int64(req.Offset)}
	got, err := s.encryptVersion(ctx, src, out, ctSize)
	if err != nil {
		// The client sees a short answer and keeps what it has.
		log.Error("restore: stream", "client", cl.ID, "file", stored, "version", v.Version, "err", err)
		if !out.failed {
			rq.status = netsvc.StatusServerError // the blob, not the client
		}
		return respStreamed, nil, err
	}
	if got != crc {
		log.Error("restore: stored file does not match its CRC (damaged blob?)", "client", cl.ID, "file", stored,
			"version", v.Version, "stored_crc", fmt.Sprintf("%08x", crc), "sent_crc", fmt.Sprintf("%08x", got))
	}
	log.Info("file restored", "client", cl.ID, "file", stored, "version", v.Version, "offset", req.Offset, "ciphertext", ctSize)
	return respStreamed, nil, nil
}

// skipWriter drops the first skip bytes written to it.
// failed records that a write failed (the client, not the blob).
type skipWriter struct {
	w      io.Writer
	skip   int64
	failed bool
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if s.skip > 0 {
		d := min(s.skip, int64(len(p)))
		s.skip -= d
		p = p[d:]
	}
	if len(p) > 0 {
		if _, err := s.w.Write(p); err != nil {
			s.failed = true
			return 0, err
		}
	}
	return n, nil
}

// source is how a version's blob becomes the client's ciphertext.
type source struct {
	v       store.BackupVersion
	cur     cipher.Block // the client's current key
	old     cipher.Block // the key the blob is encrypted with (at rest only)
	sameKey bool         // the upload was encrypted with the current key
}

func (s *Server) versionSource(v store.BackupVersion, curKey []byte) (source, error) {
	src := source{v: v}
	var err error
	if src.cur, err = aes.NewCipher(curKey); err != nil {
		return src, err
	}
	uploadKey := v.UploadKey
	if uploadKey == nil {
		uploadKey = v.AtRestKey // an at-rest blob is encrypted with the upload's key
	}
	var oldKey []byte
	if uploadKey != nil {
		if oldKey, err = s.seal.open(uploadKey, v.ClientID); err != nil {
			return src, err
		}
		src.sameKey = bytes.Equal(oldKey, curKey)
	}
	if v.AtRestKey != nil && !src.sameKey {
		if src.old, err = aes.NewCipher(oldKey); err != nil {
			return src, err
		}
	}
	return src, nil
}

// encryptVersion writes the version's whole ciphertext under the client's
// current key to w and returns its CRC-32; it fails unless that is exactly
// ctSize bytes. An at-rest blob under the current key is copied as stored.
func (s *Server) encryptVersion(ctx context.Context, src source, w io.Writer, ctSize int64) (uint32, error) {
	rc, _, err := s.blobs.Open(ctx, src.v.Path)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	var crc uint32
	var sent int64
	emit := func(p []byte) error {
		crc = crc32.Update(crc, crc32.IEEETable, p)
		sent += int64(len(p))
		_, err := w.Write(p)
		return err
	}
	bp := bufPool.Get().(*streamBufs)
	defer bufPool.Put(bp)
	switch {
	case src.v.AtRestKey != nil && src.sameKey:
		// Stored exactly as the client sent it.
		buf := bp.ct[:]
		for {
			n, err := io.ReadFull(rc, buf)
			if n > 0 {
				if err := emit(buf[:n]); err != nil {
					return 0, err
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return 0, err
			}
		}
	case src.v.AtRestKey != nil:
		// Stored under an older key: decrypt (padding checked) while
		// re-encrypting, through a pipe so both stay chunk-sized.
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _, err := (&Server{}).stream(rc, pw, src.old, src.v.Size)
			pw.CloseWithError(err)
		}()
		err := encryptPlain(pr, src.cur, bp, emit)
		pr.CloseWithError(io.ErrClosedPipe)
		<-done
		if err != nil {
			return 0, err
		}
	default:
		if err := encryptPlain(rc, src.cur, bp, emit); err != nil {
			return 0, err
		}
	}
	if sent != ctSize {
		return 0, fmt.Errorf("backup: stored file gives %d bytes of ciphertext, want %d", sent, ctSize)
	}
	return crc, nil
}

// encryptPlain encrypts r to its end as an upload is encrypted (CBC, zero
// IV, PKCS#7), handing each chunk of ciphertext to emit.
func encryptPlain(r io.Reader, block cipher.Block, bp *streamBufs, emit func([]byte) error) error {
	enc := legacycrypto.NewCBCEncrypterZeroIV(block)
	buf := bp.pt[:] // chunkSize + one block, for the padding
	for {
		n, err := io.ReadFull(r, buf[:chunkSize])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
		if n == chunkSize {
			enc.CryptBlocks(buf[:n], buf[:n])
			if err := emit(buf[:n]); err != nil {
				return err
			}
			continue
		}
		data := legacycrypto.PKCS7Pad(buf[:n])
		enc.CryptBlocks(data, data)
		return emit(data)
	}
}
