package e2eeftp

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyDirInitAndLoad(t *testing.T) {
	t.Parallel()
	kd := KeyDir(filepath.Join(t.TempDir(), "e2eeftp"))
	// First start: the daemon creates the identity, as the original's run() did.
	priv, created, insecure, err := kd.LoadOrInit()
	if err != nil || !created || insecure {
		t.Fatalf("created=%v insecure=%v err=%v", created, insecure, err)
	}
	for path, perm := range map[string]os.FileMode{kd.ServerKey(): 0o600, kd.KnownServer(): 0o644} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != perm {
			t.Fatalf("%s: %v %v", path, err, st.Mode())
		}
	}
	if _, err := kd.Init(false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("init over an existing key: %v", err)
	}
	again, created, _, err := kd.LoadOrInit()
	if err != nil || created || !again.Equal(priv) {
		t.Fatalf("reload: %v %v", created, err)
	}
	// A lost or stale known_server.pub is rewritten from the key.
	os.WriteFile(kd.KnownServer(), []byte("junk"), 0o644)
	if _, _, _, err := kd.LoadOrInit(); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(kd.KnownServer())
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("known_server.pub not repaired: %v", err)
	}
	// A world-readable key is reported.
	os.Chmod(kd.ServerKey(), 0o644)
	if _, _, insecure, _ := kd.LoadOrInit(); !insecure {
		t.Fatal("0644 key not reported")
	}
	// -force replaces the identity.
	p2, err := kd.Init(true)
	if err != nil || p2.Equal(priv) {
		t.Fatalf("force: %v", err)
	}
	// A corrupt key is an error, never silently replaced.
	os.WriteFile(kd.ServerKey(), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, _, _, err := kd.LoadOrInit(); err == nil {
		t.Fatal("corrupt key accepted")
	}
}

func TestKeyDirAuthorizeAndClientFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	kd := KeyDir(filepath.Join(root, "srv"))
	srv, err := kd.Init(false)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ClientFiles(filepath.Join(root, "alice"), srv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ClientFiles(filepath.Join(root, "alice"), srv.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("client_id.key overwritten")
	}
	c, err := LoadClient("127.0.0.1:1", filepath.Join(root, "alice", ClientKeyFile), filepath.Join(root, "alice", KnownServerFile))
	if err != nil || !c.Identity.Equal(cli) || !c.ServerKey.Equal(srv.Public()) {
		t.Fatalf("client files do not load: %v", err)
	}
	pub := cli.Public().(ed25519.PublicKey)
	if added, err := kd.Authorize(pub, "alice\nINJECTED"); !added || err != nil {
		t.Fatalf("authorize: %v %v", added, err)
	}
	if added, err := kd.Authorize(pub, "again"); added || err != nil {
		t.Fatalf("duplicate: %v %v", added, err)
	}
	b, _ := os.ReadFile(kd.Authorized())
	if string(b) != "# alice INJECTED\n"+AuthorizedLine(pub)+"\n" {
		t.Fatalf("file:\n%s", b)
	}
	ak := NewAuthorizedKeys(kd.Authorized(), nil)
	if !ak.Contains(pubArray(cli)) || ak.Contains(pubArray(srv)) {
		t.Fatal("membership wrong")
	}
	if _, err := kd.Authorize(pub[:31], ""); err == nil || !strings.Contains(err.Error(), "32-byte") {
		t.Fatalf("short key: %v", err)
	}
}
