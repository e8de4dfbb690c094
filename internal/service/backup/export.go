package backup

import (
	"context"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"gatehouse/internal/blob"
	"gatehouse/internal/store"
)

// ErrExportCRC is a stored version whose bytes no longer match the CRC of
// its upload (a damaged blob).
var ErrExportCRC = errors.New("backup: stored version does not match its upload's CRC")

// Export writes a version's plaintext to w for the operator (`admin backup
// export`): a blob stored at rest is decrypted with its sealed key, opened
// with masterKey (the service's master.key). When the key the upload was
// encrypted with is known, the CRC of the upload's ciphertext is checked
// too (verified reports whether it was); a mismatch is ErrExportCRC after
// everything was written, so the caller should discard what it wrote.
func Export(ctx context.Context, blobs blob.Store, masterKey []byte, v store.BackupVersion, w io.Writer) (verified bool, err error) {
	sl, err := newSealer(masterKey, rand.Reader)
	if err != nil {
		return false, err
	}
	rc, _, err := blobs.Open(ctx, v.Path)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	keySealed := v.UploadKey
	if v.AtRestKey != nil {
		keySealed = v.AtRestKey
	}
	if keySealed == nil {
		// A plaintext version from before versions recorded the key.
		_, err := io.Copy(w, rc)
		return false, err
	}
	key, err := sl.open(keySealed, v.ClientID)
	if err != nil {
		return false, fmt.Errorf("backup: export: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return false, err
	}
	var crc uint32
	if v.AtRestKey != nil {
		// The blob is the upload's ciphertext: decrypting checks padding
		// and gives its CRC.
		if _, crc, err = (&Server{}).stream(rc, w, block, v.Size); err != nil {
			return false, fmt.Errorf("backup: export: %w", err)
		}
	} else {
		bp := bufPool.Get().(*streamBufs)
		defer bufPool.Put(bp)
		err := encryptPlain(io.TeeReader(rc, w), block, bp, func(p []byte) error {
			crc = crc32.Update(crc, crc32.IEEETable, p)
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	if crc != v.CRC {
		return false, fmt.Errorf("%w (%08x, stored %08x)", ErrExportCRC, crc, v.CRC)
	}
	return true, nil
}
