package e2eeftp

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"
)

// Fingerprint is the OpenSSH fingerprint of an Ed25519 public key, as
// `ssh-keygen -l` prints it for the same key: "SHA256:" and the unpadded
// standard base64 of SHA-256 over the key's SSH wire encoding (the string
// "ssh-ed25519" and the 32-byte key, each with a 4-byte big-endian length).
// It names a key in the server's logs, in the Go client's errors and in
// `gatehouse keys e2eeftp list` (docs/e2eeftp.md, "Fingerprints"). A key
// that is not 32 bytes has no fingerprint: "SHA256:?".
func Fingerprint(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return "SHA256:?"
	}
	var w [4 + 11 + 4 + ed25519.PublicKeySize]byte
	binary.BigEndian.PutUint32(w[0:], 11)
	copy(w[4:], "ssh-ed25519")
	binary.BigEndian.PutUint32(w[15:], ed25519.PublicKeySize)
	copy(w[19:], pub)
	sum := sha256.Sum256(w[:])
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// FingerprintLine is the fingerprint of a key written as in
// authorized_clients.pub and the store (standard base64 of the raw 32
// bytes).
func FingerprintLine(line string) (string, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(line)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return "", fmt.Errorf("e2eeftp: %q is not base64 of a 32-byte Ed25519 key", line)
	}
	return Fingerprint(raw), nil
}

// Fingerprint is the entry's key's fingerprint.
func (e AuthorizedEntry) Fingerprint() string { return Fingerprint(e.Key[:]) }

// ClientKey is one client key the store knows, as `gatehouse keys e2eeftp
// list` shows it.
type ClientKey struct {
	Key         string // standard base64 of the raw 32 bytes (authorized_clients.pub's form)
	Fingerprint string // Fingerprint of the key
	Comment     string // the comment given with add-client or found above the key in the file
	Added       time.Time
	Revoked     time.Time // zero while authorized
}

// Clients lists every client key the store knows, authorized and revoked,
// with its fingerprint and comment. A row whose key is not a valid key
// (written by hand into the table) has the fingerprint "SHA256:?".
func Clients(ctx context.Context, reg ClientRegistry) ([]ClientKey, error) {
	rows, err := reg.E2EEFTPClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClientKey, 0, len(rows))
	for _, r := range rows {
		fp, err := FingerprintLine(r.PublicKey)
		if err != nil {
			fp = "SHA256:?"
		}
		out = append(out, ClientKey{Key: r.PublicKey, Fingerprint: fp, Comment: r.Comment, Added: r.Added, Revoked: r.Revoked})
	}
	return out, nil
}

// clientName is how logs and Conn.SetIdentity name a client: its
// fingerprint, and the authorized key's comment when there is one.
func clientName(fp, comment string) string {
	if comment == "" {
		return fp
	}
	return fp + " (" + comment + ")"
}
