package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
)

var ctx = context.Background()

// docs/backup.md, "Test vectors": the FileDecryptHandler vector replayed byte for byte over a socket,
// with the client's AES key installed as if it had done its key exchange.
func TestGoldenFileResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := ClientID(unhexT(t, "0123456789abcdef0123456789abcdef"))
	e.putClient(id, "vector", unhexT(t, "00112233445566778899aabbccddeeff"))
	req := unhexT(t, "0123456789abcdef0123456789abcdef"+"01"+"0404"+"23010000"+"20000000"+
		"68656c6c6f2e747874"+strings.Repeat("00", 246)+
		"5a6398b9e05a0a2186b510bda6d8f6c119e2da2922c0bc8cf2aa3ce7df18b66b")
	want := unhexT(t, "03370817010000"+"0123456789abcdef0123456789abcdef"+"20000000"+
		"68656c6c6f2e747874"+strings.Repeat("00", 246)+"99755b10")
	h, p, ok := raw(t, e.addr, req)
	if !ok {
		t.Fatal("no response")
	}
	if got := Response(h.Code, p); !bytes.Equal(got, want) {
		t.Fatalf("response\n got %x\nwant %x", got, want)
	}
	stored, err := e.readBlob(id.String() + "/hello.txt")
	if err != nil || string(stored) != "Hello, backup server!\n" {
		t.Fatalf("stored %q %v", stored, err)
	}
	f, err := e.db.BackupFile(ctx, id.String(), "hello.txt")
	if err != nil || f.Verified || f.Status != store.BackupReceived || f.CRC != 0x105b7599 || f.Size != 22 {
		t.Fatalf("row %+v %v", f, err)
	}
}

// docs/backup.md, "Worked example": the captured session. The server draws the id and AES key at
// random, so the session is replayed with the captured id and key
// installed; every frame the server sends is compared where it is
// deterministic, and by layout where it is random (OAEP).
func TestGoldenWorkedSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	name := "4d69636861656c204a61636b736f6e" + strings.Repeat("00", 240)
	// #0 register: a 2100 with a fresh id.
	h, p, ok := raw(t, e.addr, unhexT(t, strings.Repeat("00", 16)+"01"+"0104"+"ff000000"+name))
	if !ok || h.Code != RespRegistered || len(p) != 16 || hex.EncodeToString(Response(h.Code, nil)[:3]) != "033408" {
		t.Fatalf("#0: %+v %x %v", h, p, ok)
	}
	c, err := e.db.BackupClient(ctx, ClientID(p).String())
	if err != nil || c.Name != "Michael Jackson" || ClientID(p)[6]>>4 != 4 {
		t.Fatalf("#0 stored %+v %v", c, err)
	}

	id := ClientID(unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"))
	aesKey := unhexT(t, "6642814857a998085a3c35ae871bd38b")
	e.putClient(id, "Michael Jackson", aesKey)

	// #2 file and #3 CRC ok, byte for byte.
	h, p, ok = raw(t, e.addr, unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0404"+"23010000"+"20000000"+
		"68656c6c6f2e747874"+strings.Repeat("00", 246)+"aa9b7044c629d21cc4823098ddbc4008c2918e229e3d86787f9fd0b6f9a40eed"))
	want := "03370817010000" + "1f93925f86d8432aad42d24db9eb1a27" + "20000000" + "68656c6c6f2e747874" + strings.Repeat("00", 246) + "ee95f537"
	if got := hex.EncodeToString(Response(h.Code, p)); !ok || got != want {
		t.Fatalf("#2\n got %s\nwant %s", got, want)
	}
	h, p, ok = raw(t, e.addr, unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0504"+"ff000000"+"68656c6c6f2e747874"+strings.Repeat("00", 246)))
	if got := hex.EncodeToString(Response(h.Code, p)); !ok || got != "03380800000000" {
		t.Fatalf("#3 %s", got)
	}
	f, _ := e.db.BackupFile(ctx, id.String(), "hello.txt")
	if !f.Verified {
		t.Fatalf("1029 did not verify: %+v", f)
	}

	// #4 reconnect: 2105, id echoed, a 128-byte blob that unwraps to the key.
	h, p, ok = raw(t, e.addr, unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0304"+"ff000000"+name))
	if !ok || hex.EncodeToString(Response(h.Code, nil)[:3]) != "033908" || h.PayloadSize != 144 || !bytes.Equal(p[:16], id[:]) {
		t.Fatalf("#4: %+v %x", h, p)
	}
	if k, err := UnwrapKey(sharedKey(t), p[16:]); err != nil || !bytes.Equal(k, aesKey) {
		t.Fatalf("#4 unwrap: %x %v", k, err)
	}
	h2, p2, _ := raw(t, e.addr, unhexT(t, "1f93925f86d8432aad42d24db9eb1a27"+"01"+"0304"+"ff000000"+name))
	if h2.Code != RespReconnected || bytes.Equal(p2, p) {
		t.Fatal("a second reconnect must wrap with fresh OAEP randomness")
	}

	// #1 public key with the captured 160-byte key, for a registered
	// client without a key yet: 2102, payload 144, id echoed.
	reg := e.client("Michael Jackson")
	if err := reg.Register(ctx); err != nil {
		t.Fatal(err)
	}
	spki := "30819d300d06092a864886f70d010101050003818b0030818702818100" +
		"ae797f963b519d5782bade8b6245dd18dfc68d757df7833253b5c22fbe8f9fa9" +
		"8aa07e3a9b74669b0962fc8b31595207053e2a196fb8f96a6f8076e3010e8653" +
		"7e789f611b97312e7c55e7ecc466e3993a988dd9104cd8c686ca6cfc9ee62a8a" +
		"e2c5e3ca2afc4e0df9a712dd5a66bb4b8809d3ea6b7d5c1a4582b9b97350885f" + "020111"
	h, p, ok = raw(t, e.addr, unhexT(t, hex.EncodeToString(reg.ID[:])+"01"+"0204"+"9f010000"+name+spki))
	if !ok || hex.EncodeToString(Response(h.Code, p)[:7]) != "03360890000000" || !bytes.Equal(p[:16], reg.ID[:]) || len(p) != 144 {
		t.Fatalf("#1: %+v %x", h, p)
	}
}

func TestRegisterKeyUploadVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("alice")
	data := bytes.Repeat([]byte("backup me "), 30000) // several chunks
	res, err := c.Upload(ctx, "notes/a.txt", bytes.NewReader(data), int64(len(data)))
	if err != nil || !res.Verified || res.Attempts != 1 || res.CRC != res.ServerCRC {
		t.Fatalf("%+v %v", res, err)
	}
	got, err := e.readBlob(c.ID.String() + "/a.txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, %v", len(got), err)
	}
	f, err := e.db.BackupFile(ctx, c.ID.String(), "a.txt")
	if err != nil || !f.Verified || f.Status != store.BackupVerified || f.Size != int64(len(data)) || f.AtRestKey != nil {
		t.Fatalf("row %+v %v", f, err)
	}
	cl, _ := e.db.BackupClient(ctx, c.ID.String())
	if bytes.Contains(cl.AESKey, c.AESKey) {
		t.Fatal("AES key stored in clear")
	}
	// Neither the AES key nor the content reached the log.
	logs := e.logText()
	if strings.Contains(logs, hex.EncodeToString(c.AESKey)) || strings.Contains(logs, "backup me") {
		t.Fatal("secret or content logged")
	}
	if !strings.Contains(logs, "file stored") {
		t.Fatal("log capture broken")
	}
}

func TestEmptyFileAndExactBlocks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("edge")
	for name, data := range map[string][]byte{"empty": nil, "block": bytes.Repeat([]byte{1}, 16), "chunk": bytes.Repeat([]byte{2}, chunkSize)} {
		res, err := c.Upload(ctx, name, bytes.NewReader(data), int64(len(data)))
		if err != nil || !res.Verified {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
		got, err := e.readBlob(c.ID.String() + "/" + name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: stored %d bytes %v", name, len(got), err)
		}
	}
}

// corruptingProxy forwards loopback connections to addr, flipping one byte
// of the first connection that carries more than 400 bytes (the first
// upload) at offset 300 (inside the ciphertext's first block).
func corruptingProxy(t *testing.T, addr string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	corrupted := false
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { io.Copy(in, out); in.Close() }()
				buf := make([]byte, 64<<10)
				var off int64
				for {
					n, err := in.Read(buf)
					if n > 0 {
						mu.Lock()
						if !corrupted && off <= 300 && off+int64(n) > 300 && off+int64(n) > 400 {
							buf[300-off] ^= 0x5a
							corrupted = true
						}
						mu.Unlock()
						off += int64(n)
						if _, werr := out.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						out.(*net.TCPConn).CloseWrite()
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A ciphertext damaged in transit: the server stores what it got and
// reports that CRC, the client sees the mismatch, sends 1030, re-sends,
// and the second copy verifies.
func TestCRCRetryThenOK(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("bob")
	c.Addr = corruptingProxy(t, e.addr)
	data := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes: padding block untouched
	res, err := c.Upload(ctx, "r.bin", bytes.NewReader(data), int64(len(data)))
	if err != nil || !res.Verified || res.Attempts != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	got, _ := e.readBlob(c.ID.String() + "/r.bin")
	if !bytes.Equal(got, data) {
		t.Fatal("the retried copy is not what was stored")
	}
	f, _ := e.db.BackupFile(ctx, c.ID.String(), "r.bin")
	if !f.Verified || f.Attempts != 2 {
		t.Fatalf("row %+v", f)
	}
}

// The original's --debug fault: three mismatches, then 1031, which
// discards the upload.
func TestThreeFailuresThenDiscard(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.TestCRCOffByOne = true })
	c := e.newClient("carol")
	data := []byte("never verified")
	res, err := c.Upload(ctx, "x.txt", bytes.NewReader(data), int64(len(data)))
	if err == nil || res.Verified || res.Attempts != 3 || res.ServerCRC != res.CRC+1 {
		t.Fatalf("%+v %v", res, err)
	}
	e.waitBlobs() // 1031 removes the blob
	f, err := e.db.BackupFile(ctx, c.ID.String(), "x.txt")
	if err != nil || f.Status != store.BackupFailed || f.Verified || f.Attempts != 3 {
		t.Fatalf("row %+v %v", f, err)
	}
	// A late 1029 cannot resurrect a discarded file.
	if err := c.SendStatus(ctx, CodeCRCOK, "x.txt"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.db.BackupFile(ctx, c.ID.String(), "x.txt"); f.Verified {
		t.Fatal("failed file verified")
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("dave")
	back := &Client{Addr: e.addr, Name: "dave", ID: c.ID, Key: c.Key}
	if err := back.Reconnect(ctx); err != nil || !bytes.Equal(back.AESKey, c.AESKey) {
		t.Fatalf("reconnect: %v", err)
	}
	data := []byte("after reconnect")
	if res, err := back.Upload(ctx, "r", bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
		t.Fatalf("%+v %v", res, err)
	}
	var unknown ClientID
	rand.Read(unknown[:])
	for what, cl := range map[string]*Client{
		"unknown id": {Addr: e.addr, Name: "dave", ID: unknown, Key: c.Key},
		"wrong name": {Addr: e.addr, Name: "mallory", ID: c.ID, Key: c.Key},
	} {
		if err := cl.Reconnect(ctx); !errors.Is(err, ErrReconnectDenied) {
			t.Errorf("%s: %v", what, err)
		}
	}
	// Registered but never sent a key: 2106 as the original.
	nokey := e.client("erin")
	if err := nokey.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nokey.Reconnect(ctx); !errors.Is(err, ErrReconnectDenied) {
		t.Errorf("no key: %v", err)
	}
	h, _, ok := raw(t, e.addr, request(c.ID, CodeReconnect, bytes.Repeat([]byte("A"), 255)))
	if !ok || h.Code != RespReconnectDenied {
		t.Errorf("unterminated name: %+v %v", h, ok)
	}
}

// Duplicate names are accepted with a new id (docs/backup.md, "Request codes
// the client depends on"; flaw 10 in "Original flaws"): the C++ client
// crashes on anything but 2100.
func TestRegisterTakenName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.newClient("same"), e.newClient("same")
	if a.ID == b.ID {
		t.Fatal("same id twice")
	}
	h, _, ok := raw(t, e.addr, request(ClientID{1, 2, 3}, CodeRegister, append([]byte("bob"), make([]byte, 7)...)))
	if !ok || h.Code != RespRegistered {
		t.Fatalf("short name field, non-zero header id: %+v", h)
	}
	for what, p := range map[string][]byte{"all NUL": make([]byte, 255), "no NUL": bytes.Repeat([]byte("A"), 255), "256": make([]byte, 256)} {
		h, _, ok := raw(t, e.addr, request(ClientID{}, CodeRegister, p))
		if !ok || h.Code != RespError {
			t.Errorf("%s: %+v %v", what, h, ok)
		}
	}
}

func TestKeyExchangeRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("frank")
	first := c.AESKey
	// A retry with the same key gets the same AES key back.
	if err := c.ExchangeKeys(ctx); err != nil || !bytes.Equal(c.AESKey, first) {
		t.Fatalf("same key again: %v", err)
	}
	other, err := GenerateLegacyKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	thief := &Client{Addr: e.addr, Name: "frank", ID: c.ID, Key: other}
	var re *ResponseError
	if err := thief.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("key replacement: %v", err)
	}
	impostor := &Client{Addr: e.addr, Name: "mallory", ID: c.ID, Key: other}
	if err := impostor.ExchangeKeys(ctx); !errors.As(err, &re) || re.Response != RespError {
		t.Fatalf("name mismatch: %v", err)
	}
	var unknown ClientID
	rand.Read(unknown[:])
	ghost := &Client{Addr: e.addr, Name: "frank", ID: unknown, Key: other}
	if err := ghost.ExchangeKeys(ctx); !errors.As(err, &re) {
		t.Fatalf("unknown id: %v", err)
	}
	// The original stored unusable keys (#16); nothing changes here.
	for what, key := range map[string][]byte{"random": bytes.Repeat([]byte{7}, 160), "none": nil} {
		h, _, ok := raw(t, e.addr, request(c.ID, CodePublicKey, append(nameField(t, "frank"), key...)))
		if !ok || h.Code != RespError {
			t.Errorf("%s key: %+v %v", what, h, ok)
		}
	}
	if err := (&Client{Addr: e.addr, Name: "frank", ID: c.ID, Key: c.Key}).Reconnect(ctx); err != nil {
		t.Fatalf("original owner locked out: %v", err)
	}

	// With allow_key_replace the original's rotation is back.
	e2 := newEnv(t, func(c *Config) { c.AllowKeyReplace = true })
	d := e2.newClient("gina")
	d2 := &Client{Addr: e2.addr, Name: "gina", ID: d.ID, Key: other}
	if err := d2.ExchangeKeys(ctx); err != nil || bytes.Equal(d2.AESKey, d.AESKey) {
		t.Fatalf("replacement allowed: %v", err)
	}
}

// The original answered 2103 with a matching CRC whatever happened (#4).
func TestCRCOnlyForStoredData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("henry")
	ct, _ := EncryptFile(c.AESKey, []byte("some data"))
	var unknown ClientID
	rand.Read(unknown[:])
	nokey := e.client("nokey")
	if err := nokey.Register(ctx); err != nil {
		t.Fatal(err)
	}
	badPad := make([]byte, 32)
	for {
		rand.Read(badPad)
		if _, err := DecryptFile(c.AESKey, badPad); err != nil {
			break
		}
	}
	hello := nameField(t, "hello.txt")
	cases := map[string][]byte{
		"unknown client":  fileRequest(unknown, hello, ct),
		"client w/o key":  fileRequest(nokey.ID, hello, ct),
		"20-byte payload": fileRequest(c.ID, hello, make([]byte, 20)),
		"short payload":   request(c.ID, CodeFile, make([]byte, 10)),
		"bad padding":     fileRequest(c.ID, hello, badPad),
		"size over avail": request(c.ID, CodeFile, append(append([]byte{0xff, 0, 0, 0}, hello...), ct...)),
		"no base name":    fileRequest(c.ID, nameField(t, "sub/.."), ct),
		"dir only":        fileRequest(c.ID, nameField(t, `dir\`), ct),
		"NUL injection":   fileRequest(c.ID, append([]byte("a.txt\x00../x"), make([]byte, 245)...), ct),
		"no NUL":          fileRequest(c.ID, bytes.Repeat([]byte("n"), 255), ct),
	}
	for what, msg := range cases {
		h, _, ok := raw(t, e.addr, msg)
		if !ok || h.Code != RespError {
			t.Errorf("%s: %+v ok=%v, want 2107", what, h, ok)
		}
	}
	all, err := e.blobs.List(ctx, "")
	if err != nil || len(all) != 0 {
		t.Fatalf("something was stored: %+v %v", all, err)
	}
	files, _ := e.db.BackupFiles(ctx, "")
	if len(files) != 0 {
		t.Fatalf("rows: %+v", files)
	}
	// Paths are reduced to their last element inside the client's folder.
	for name, want := range map[string]string{"sub/x.txt": "x.txt", "/etc/passwd": "passwd", "../evil.txt": "evil.txt",
		`..\win.txt`: "win.txt", ".tmp-x": ".tmp-x"} {
		h, p, ok := raw(t, e.addr, fileRequest(c.ID, nameField(t, name), ct))
		if !ok || h.Code != RespFileCRC {
			t.Fatalf("%s: %+v", name, h)
		}
		fr, _ := ParseFileResponse(p)
		if fr.CRC != CRC(ct) || fr.Size != uint32(len(ct)) || fr.ClientID != c.ID || !bytes.Equal(fr.Name[:], nameField(t, name)) {
			t.Fatalf("%s: %+v", name, fr)
		}
		if got, err := e.readBlob(c.ID.String() + "/" + want); err != nil || string(got) != "some data" {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
}

func TestClientsAreIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.newClient("a"), e.newClient("b")
	for _, c := range []*Client{a, b} {
		data := []byte("owned by " + c.Name)
		if res, err := c.Upload(ctx, "same.txt", bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
			t.Fatal(res, err)
		}
	}
	for _, c := range []*Client{a, b} {
		got, _ := e.readBlob(c.ID.String() + "/same.txt")
		if string(got) != "owned by "+c.Name {
			t.Fatalf("%s's file holds %q", c.Name, got)
		}
	}
	// b's 1031 for the same name touches only b's file.
	if err := b.SendStatus(ctx, CodeCRCFail, "same.txt"); err != nil {
		t.Fatal(err)
	}
	if f, _ := e.db.BackupFile(ctx, a.ID.String(), "same.txt"); !f.Verified {
		t.Fatal("a's file changed by b")
	}
	// b cannot write into a's folder with a's id: b lacks a's AES key, and
	// a ciphertext that does not decrypt under it is refused.
	var ct []byte
	for {
		ct, _ = EncryptFile(b.AESKey, []byte("overwrite attempt"))
		if _, err := DecryptFile(a.AESKey, ct); err != nil {
			break
		}
	}
	h, _, _ := raw(t, e.addr, fileRequest(a.ID, nameField(t, "same.txt"), ct))
	if h.Code != RespError {
		t.Fatalf("cross-client upload answered %d", h.Code)
	}
	if got, _ := e.readBlob(a.ID.String() + "/same.txt"); string(got) != "owned by a" {
		t.Fatalf("a's file now %q", got)
	}
}

// Distinguishable padding errors are a decryption oracle; a client that
// keeps producing them is refused for an hour.
func TestPaddingFailureLockout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.PaddingFailureLimit = 3 })
	c := e.newClient("oracle")
	bad := make([]byte, 32)
	for i := 0; i < 3; {
		rand.Read(bad)
		if _, err := DecryptFile(c.AESKey, bad); err == nil {
			continue
		}
		h, _, _ := raw(t, e.addr, fileRequest(c.ID, nameField(t, "f"), bad))
		if h.Code != RespError {
			t.Fatalf("bad padding answered %d", h.Code)
		}
		i++
	}
	good, _ := EncryptFile(c.AESKey, []byte("fine"))
	if h, _, _ := raw(t, e.addr, fileRequest(c.ID, nameField(t, "f"), good)); h.Code != RespError {
		t.Fatalf("locked-out client answered %d", h.Code)
	}
	other := e.newClient("innocent")
	good2, _ := EncryptFile(other.AESKey, []byte("fine"))
	if h, _, _ := raw(t, e.addr, fileRequest(other.ID, nameField(t, "f"), good2)); h.Code != RespFileCRC {
		t.Fatalf("other client answered %d", h.Code)
	}
}

func TestEncryptAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.EncryptAtRest = true })
	c := e.newClient("ivy")
	data := bytes.Repeat([]byte("secret "), 50000)
	if res, err := c.Upload(ctx, "s", bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
		t.Fatal(res, err)
	}
	got, _ := e.readBlob(c.ID.String() + "/s")
	want, _ := EncryptFile(c.AESKey, data)
	if !bytes.Equal(got, want) {
		t.Fatal("stored blob is not the ciphertext")
	}
	f, _ := e.db.BackupFile(ctx, c.ID.String(), "s")
	key, err := e.srv.seal.open(f.AtRestKey, c.ID.String())
	if err != nil || !bytes.Equal(key, c.AESKey) || f.Size != int64(len(want)) {
		t.Fatalf("at-rest key %v", err)
	}
}

func TestFramingErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxFileSize = 1 << 20 })
	c := e.newClient("jack")
	// Zero payloads and unknown codes: the original went silent; 2107 here.
	for what, msg := range map[string][]byte{
		"1025 empty": request(ClientID{}, CodeRegister, nil),
		"1029 empty": request(c.ID, CodeCRCOK, nil),
		"code 1032":  request(c.ID, 1032, []byte{1}),
		"code 0":     request(c.ID, 0, []byte{1}),
	} {
		if h, _, ok := raw(t, e.addr, msg); !ok || h.Code != RespError {
			t.Errorf("%s: %+v %v", what, h, ok)
		}
	}
	// Status requests are acknowledged whatever they name, as before.
	for what, msg := range map[string][]byte{
		"1029 one byte, unknown id": request(ClientID{9}, CodeCRCOK, []byte{'x'}),
		"1030 version 99":           append(AppendRequestHeader(nil, RequestHeader{ClientID: c.ID, Version: 99, Code: CodeCRCRetry, PayloadSize: 255}), nameField(t, "f")...),
	} {
		if h, _, ok := raw(t, e.addr, msg); !ok || h.Code != RespAck || h.Version != 3 {
			t.Errorf("%s: %+v %v", what, h, ok)
		}
	}
	// Oversized payloads are refused before a byte of them is read.
	for what, hdr := range map[string]RequestHeader{
		"register 1 MiB": {Code: CodeRegister, PayloadSize: 1 << 20},
		"file 4 GiB":     {ClientID: c.ID, Code: CodeFile, PayloadSize: 1<<32 - 1},
	} {
		msg := AppendRequestHeader(nil, hdr)
		if hdr.Code == CodeFile {
			msg = append(msg, make([]byte, FileHeaderSize)...)
		}
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(msg)
		h, _, err := readResponse(conn)
		conn.Close()
		if hdr.Code == CodeFile {
			if err != nil || h.Code != RespError {
				t.Errorf("%s: %+v %v", what, h, err)
			}
		} else if err == nil {
			t.Errorf("%s: answered %+v", what, h)
		}
	}
	// A second request on the same connection is never served.
	two := append(request(ClientID{}, CodeRegister, nameField(t, "one")), request(ClientID{}, CodeRegister, nameField(t, "two"))...)
	if h, _, ok := raw(t, e.addr, two); !ok || h.Code != RespRegistered {
		t.Fatalf("pipelined: %+v", h)
	}
	cl, _ := e.db.BackupClients(ctx)
	for _, x := range cl {
		if x.Name == "two" {
			t.Fatal("second request on one connection was served")
		}
	}
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	lim := netsvc.Limits{MaxConns: 16, IdleTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, HandshakeTimeout: 300 * time.Millisecond, RateGrace: 300 * time.Millisecond}
	e := newEnvLimits(t, lim, func(c *Config) { c.MinUploadRate = 1000 })
	c := e.newClient("slow")
	closedWithin := func(what string, msg []byte, trickle bool, max time.Duration) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		conn.Write(msg)
		done := make(chan struct{})
		if trickle {
			go func() {
				for i := 0; i < 100; i++ {
					select {
					case <-done:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := conn.Write([]byte{0}); err != nil {
						return
					}
				}
			}()
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err = readResponse(conn)
		close(done)
		if err == nil {
			t.Errorf("%s: got a response", what)
		}
		if el := time.Since(start); el > max {
			t.Errorf("%s: closed after %v, want < %v", what, el, max)
		}
	}
	// A header that never completes: the handshake deadline.
	closedWithin("stalled header", make([]byte, 10), false, 2*time.Second)
	// A file body trickling under 1000 B/s: behind after the 0.3 s grace.
	ct := make([]byte, 160)
	msg := fileRequest(c.ID, nameField(t, "slow"), ct)
	closedWithin("trickled body", msg[:len(msg)-150], true, 3*time.Second)
}

func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	clients := make([]*Client, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.client(fmt.Sprintf("client-%02d", i))
			if err := c.Register(ctx); err != nil {
				errs <- err
				return
			}
			if err := c.ExchangeKeys(ctx); err != nil {
				errs <- err
				return
			}
			clients[i] = c
			data := bytes.Repeat([]byte{byte(i)}, 100_000+i*1000)
			res, err := c.Upload(ctx, fmt.Sprintf("file-%02d.bin", i), bytes.NewReader(data), int64(len(data)))
			if err != nil || !res.Verified {
				errs <- fmt.Errorf("client %d: %+v %v", i, res, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	files, err := e.db.BackupFiles(ctx, "")
	if err != nil || len(files) != n {
		t.Fatalf("%d rows %v", len(files), err)
	}
	for i, c := range clients {
		f, err := e.db.BackupFile(ctx, c.ID.String(), fmt.Sprintf("file-%02d.bin", i))
		if err != nil || !f.Verified {
			t.Fatalf("client %d: %+v %v", i, f, err)
		}
		got, _ := e.readBlob(f.Path)
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 100_000+i*1000)) {
			t.Fatalf("client %d: stored content differs", i)
		}
	}
}

// Graceful shutdown lets the request at hand finish: an upload whose body
// is still arriving when the drain begins is stored and answered 2103, not
// failed because the handler's context was cancelled.
func TestShutdownFinishesUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("drain")
	data := bytes.Repeat([]byte("drain me "), 1000)
	ct, _ := EncryptFile(c.AESKey, data)
	msg := fileRequest(c.ID, nameField(t, "d.txt"), ct)
	base := e.counter("gatehouse_bytes_received_total")
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	half := RequestHeaderSize + FileHeaderSize + len(ct)/2
	if _, err := conn.Write(msg[:half]); err != nil {
		t.Fatal(err)
	}
	// Let the server look the client up and start streaming the body.
	netsvctest.Eventually(t, "server reads the first half", 5*time.Second, func() bool {
		return e.counter("gatehouse_bytes_received_total") >= base+float64(half)
	})
	shut := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- e.ns.Shutdown(sctx)
	}()
	netsvctest.Draining(t, e.ns, "backup") // the handlers' context is cancelled by now
	if _, err := conn.Write(msg[half:]); err != nil {
		t.Fatal(err)
	}
	h, p, err := readResponse(conn)
	if err != nil || h.Code != RespFileCRC {
		t.Fatalf("upload during drain: %+v %v", h, err)
	}
	if fr, _ := ParseFileResponse(p); fr.CRC != CRC(ct) {
		t.Fatalf("CRC %08x, want %08x", fr.CRC, CRC(ct))
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	got, err := e.readBlob(c.ID.String() + "/d.txt")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, %v", len(got), err)
	}
	if f, err := e.db.BackupFile(ctx, c.ID.String(), "d.txt"); err != nil || f.Status != store.BackupReceived {
		t.Fatalf("row %+v %v", f, err)
	}
}

// The bad-padding count is shared through the store: a client locked out by
// one daemon is locked out by every daemon on the same store, until the
// window passes.
func TestPaddingLockoutSharedAcrossDaemons(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(c *Config) { c.PaddingFailureLimit = 2; c.Now = clock })
	other := e.sibling(func(c *Config) { c.PaddingFailureLimit = 2; c.Now = clock })
	c := e.newClient("spread")
	bad := make([]byte, 32)
	for i, addr := range []string{e.addr, other.addr} {
		for {
			rand.Read(bad)
			if _, err := DecryptFile(c.AESKey, bad); err != nil {
				break
			}
		}
		if h, _, _ := raw(t, addr, fileRequest(c.ID, nameField(t, "f"), bad)); h.Code != RespError {
			t.Fatalf("bad padding %d answered %d", i, h.Code)
		}
	}
	good, _ := EncryptFile(c.AESKey, []byte("fine"))
	for _, addr := range []string{e.addr, other.addr} {
		if h, _, _ := raw(t, addr, fileRequest(c.ID, nameField(t, "f"), good)); h.Code != RespError {
			t.Fatalf("client locked out through two daemons answered %d", h.Code)
		}
	}
	mu.Lock()
	now = now.Add(failWindow + time.Minute)
	mu.Unlock()
	if h, _, _ := raw(t, other.addr, fileRequest(c.ID, nameField(t, "f"), good)); h.Code != RespFileCRC {
		t.Fatalf("after the window answered %d", h.Code)
	}
}
