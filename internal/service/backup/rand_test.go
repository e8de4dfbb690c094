package backup

import (
	"bytes"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// Every random byte the server draws comes from Config.Rand and every time
// it reads from Config.Now: two servers on fresh stores, given the same
// seeded source and a fixed clock, answer a register, a key exchange and an
// upload byte for byte alike and seal the AES key with the same nonce
// under the same blob name.
// A hidden crypto/rand read (id, AES key, GCM nonce, OAEP seed, blob name)
// or time.Now would make them differ.
func TestRandAndNowFromConfig(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	run := func() (frames [][]byte, nonce []byte, path string) {
		e := newEnv(t, func(c *Config) {
			c.Rand = mrand.NewChaCha8([32]byte{1, 2, 3})
			c.Now = func() time.Time { return at }
		})
		name := nameField(t, "seeded")
		h, p, ok := raw(t, e.addr, request(ClientID{}, CodeRegister, name))
		if !ok || h.Code != RespRegistered {
			t.Fatalf("register: %d %v", h.Code, ok)
		}
		frames = append(frames, Response(h.Code, p))
		id := ClientID(p[:ClientIDSize])
		c := &Client{Key: sharedKey(t)}
		der, _ := c.PublicKeyDER()
		h, p, ok = raw(t, e.addr, request(id, CodePublicKey, append(name, der...)))
		if !ok || h.Code != RespAESKey {
			t.Fatalf("key exchange: %d %v", h.Code, ok)
		}
		frames = append(frames, Response(h.Code, p))
		key, err := UnwrapKey(sharedKey(t), p[ClientIDSize:])
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := EncryptFile(key, []byte("same bytes, same blob"))
		h, p, ok = raw(t, e.addr, fileRequest(id, nameField(t, "f.txt"), ct))
		if !ok || h.Code != RespFileCRC {
			t.Fatalf("upload: %d %v", h.Code, ok)
		}
		frames = append(frames, Response(h.Code, p))
		cl, err := e.db.BackupClient(ctx, id.String())
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.db.BackupFile(ctx, id.String(), "f.txt")
		if err != nil {
			t.Fatal(err)
		}
		if !f.UploadedAt.Equal(at) || !cl.CreatedAt.Equal(at) {
			t.Errorf("times %v %v, want %v", f.UploadedAt, cl.CreatedAt, at)
		}
		// The masters differ (each env draws its own): the nonce is what
		// the server drew.
		return frames, cl.AESKey[:e.srv.seal.aead.NonceSize()], f.Path
	}
	f1, s1, p1 := run()
	f2, s2, p2 := run()
	for i := range f1 {
		if !bytes.Equal(f1[i], f2[i]) {
			t.Errorf("frame %d differs:\n%x\n%x", i, f1[i], f2[i])
		}
	}
	if !bytes.Equal(s1, s2) {
		t.Errorf("sealing nonces differ: %x %x", s1, s2)
	}
	if p1 != p2 {
		t.Errorf("blob names differ: %s %s", p1, p2)
	}
}
