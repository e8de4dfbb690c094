package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClientFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ti := TransferInfo{Addr: "127.0.0.1:1234", Name: "Michael Jackson", Files: []string{"makefile", "client.cpp"}}
	p := filepath.Join(dir, TransferInfoFile)
	if err := WriteTransferInfo(p, ti); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTransferInfo(p)
	if err != nil || got.Addr != ti.Addr || got.Name != ti.Name || strings.Join(got.Files, ",") != "makefile,client.cpp" {
		t.Fatalf("%+v %v", got, err)
	}
	os.WriteFile(p, []byte("127.0.0.1:1357\r\n\r\n\r\na.txt\r\n"), 0o644)
	if got, err := ReadTransferInfo(p); err != nil || got.Name != "DefaultName" || len(got.Files) != 1 {
		t.Fatalf("defaults: %+v %v", got, err)
	}
	os.WriteFile(p, []byte("127.0.0.1:1357\n"+strings.Repeat("n", 150)+"\n"), 0o644)
	if got, _ := ReadTransferInfo(p); len(got.Name) != MaxClientName {
		t.Fatalf("name not cut: %d", len(got.Name))
	}
	for _, bad := range []string{"", "localhost:1\nx\n", "127.0.0.1:0\nx\n", "127.0.0.1\nx\n"} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := ReadTransferInfo(p); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}

	k := sharedKey(t)
	der, _ := (&Client{Key: k}).PublicKeyDER()
	me := MeInfo{Name: "Michael Jackson", ID: ClientID(unhexT(t, "1f93925f86d8432aad42d24db9eb1a27")), PublicKey: der}
	mp := filepath.Join(dir, MeInfoFile)
	if err := WriteMeInfo(mp, me); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(mp)
	lines := strings.Split(string(raw), "\n")
	if lines[1] != "1f93925f-86d8-432a-ad42-d24db9eb1a27" || len(lines[2]) != 72 {
		t.Fatalf("me.info layout:\n%s", raw)
	}
	back, err := ReadMeInfo(mp)
	if err != nil || back.Name != me.Name || back.ID != me.ID || !bytes.Equal(back.PublicKey, der) {
		t.Fatalf("%+v %v", back, err)
	}
	kp := filepath.Join(dir, PrivKeyFile)
	if err := WritePrivateKey(kp, k); err != nil {
		t.Fatal(err)
	}
	k2, err := ReadPrivateKey(kp)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("priv.key: %v", err)
	}
}

// Login: first run registers and writes the identity, second reconnects,
// and a server that forgot the client makes it start over when ReRegister
// is set (TestLoginNotRegistered: when it is not).
func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	c := &Client{Addr: e.addr, Name: "kim", Key: sharedKey(t), RetryDelay: time.Millisecond}
	reg, err := c.Login(ctx, dir)
	if err != nil || !reg || len(c.AESKey) != 16 {
		t.Fatalf("first login: %v %v", reg, err)
	}
	again := &Client{Addr: e.addr, RetryDelay: time.Millisecond}
	reg, err = again.Login(ctx, dir)
	if err != nil || reg || again.ID != c.ID || !bytes.Equal(again.AESKey, c.AESKey) || again.Name != "kim" {
		t.Fatalf("second login: %v %v", reg, err)
	}
	other := newEnv(t)
	lost := &Client{Addr: other.addr, RetryDelay: time.Millisecond, ReRegister: true}
	reg, err = lost.Login(ctx, dir)
	if err != nil || !reg || lost.ID == c.ID {
		t.Fatalf("login after 2106: %v %v", reg, err)
	}
	me, _ := ReadMeInfo(filepath.Join(dir, MeInfoFile))
	if me.ID != lost.ID {
		t.Fatal("me.info not rewritten")
	}
}

// A server-side failure (here: the store is gone) must not look like a
// refusal: both the C++ client and Login delete me.info and priv.key on a
// 2106 or 2107 to 1027, which would orphan the client's backups. The server
// closes without an answer instead, and the client keeps its identity.
func TestLoginKeepsIdentityOnServerFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	c := &Client{Addr: e.addr, Name: "lena", Key: sharedKey(t), RetryDelay: time.Millisecond}
	if _, err := c.Login(ctx, dir); err != nil {
		t.Fatal(err)
	}
	e.db.Close()
	h, _, ok := raw(t, e.addr, request(c.ID, CodeReconnect, nameField(t, "lena")))
	if ok {
		t.Errorf("1027 with the store down answered %d", h.Code)
	}
	again := &Client{Addr: e.addr, RetryDelay: time.Millisecond, Attempts: 2}
	if _, err := again.Login(ctx, dir); err == nil {
		t.Fatal("login succeeded with the store down")
	}
	me, err := ReadMeInfo(filepath.Join(dir, MeInfoFile))
	if err != nil || me.ID != c.ID {
		t.Fatalf("me.info lost: %+v %v", me, err)
	}
	if _, err := ReadPrivateKey(filepath.Join(dir, PrivKeyFile)); err != nil {
		t.Fatalf("priv.key lost: %v", err)
	}
	// Register and key exchange fail the same way: no answer, so the
	// original client retries instead of acting on a refusal.
	for what, msg := range map[string][]byte{
		"1025": request(ClientID{}, CodeRegister, nameField(t, "new")),
		"1026": request(c.ID, CodePublicKey, append(nameField(t, "lena"), mustDER(t)...)),
	} {
		if h, _, ok := raw(t, e.addr, msg); ok {
			t.Errorf("%s with the store down answered %d", what, h.Code)
		}
	}
}

func mustDER(t *testing.T) []byte {
	der, err := (&Client{Key: sharedKey(t)}).PublicKeyDER()
	if err != nil {
		t.Fatal(err)
	}
	return der
}
