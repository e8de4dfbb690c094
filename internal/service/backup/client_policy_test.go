package backup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Upload checks the name with the server's own rule before it connects:
// a name the server would refuse is an error that says why, and nothing is
// sent; a name the server stores (a path: its base name) goes through.
func TestUploadChecksNameFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("names")
	for _, tc := range []struct{ name, why string }{
		{"invoice\u202etxt.exe", "bidirectional"},
		{"bell\x07.txt", "printable"},
		{"next\u0085line.txt", "control character"},
		{strings.Repeat("x", 300), "long"},
		{"dir/", "unsafe file name"},
	} {
		if err := CheckFileName(tc.name); err == nil {
			t.Fatalf("%q accepted", tc.name)
		}
		// A closed port: reaching the network would be a dial error.
		off := *c
		off.Addr = "127.0.0.1:1"
		_, err := off.Upload(ctx, tc.name, bytes.NewReader([]byte("data")), 4)
		if err == nil || !strings.Contains(err.Error(), "file name") || !strings.Contains(err.Error(), tc.why) {
			t.Fatalf("%q: %v", tc.name, err)
		}
		if _, _, err := off.UploadOnce(ctx, tc.name, bytes.NewReader([]byte("data")), 4); err == nil || !strings.Contains(err.Error(), "file name") {
			t.Fatalf("UploadOnce %q: %v", tc.name, err)
		}
	}
	if _, err := c.Upload(ctx, "invoice\u202etxt.exe", bytes.NewReader(nil), 0); !errors.Is(err, ErrBadFileName) {
		t.Fatalf("not ErrBadFileName: %v", err)
	}
	if err := CheckFileName("sub/ok.txt"); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Upload(ctx, "sub/ok.txt", bytes.NewReader([]byte("data")), 4); err != nil || !res.Verified {
		t.Fatalf("good name: %+v %v", res, err)
	}
}

// A server that does not know the folder's identity is ErrNotRegistered,
// naming the id; me.info and priv.key stay and nothing is registered.
func TestLoginNotRegistered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	c := &Client{Addr: e.addr, Name: "nora", Key: sharedKey(t), RetryDelay: time.Millisecond}
	if _, err := c.Login(ctx, dir); err != nil {
		t.Fatal(err)
	}
	meBefore, _ := os.ReadFile(filepath.Join(dir, MeInfoFile))
	keyBefore, _ := os.ReadFile(filepath.Join(dir, PrivKeyFile))
	other := newEnv(t)
	lost := &Client{Addr: other.addr, RetryDelay: time.Millisecond}
	reg, err := lost.Login(ctx, dir)
	if !errors.Is(err, ErrNotRegistered) || reg {
		t.Fatalf("login after 2106: %v %v", reg, err)
	}
	want := "the server does not know this client id " + c.ID.String() + "; re-register with --register"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q, want it to contain %q", err, want)
	}
	meAfter, _ := os.ReadFile(filepath.Join(dir, MeInfoFile))
	keyAfter, _ := os.ReadFile(filepath.Join(dir, PrivKeyFile))
	if len(meBefore) == 0 || !bytes.Equal(meBefore, meAfter) || len(keyBefore) == 0 || !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("identity files changed")
	}
	if cl, err := other.db.BackupClients(ctx); err != nil || len(cl) != 0 {
		t.Fatalf("registered anyway: %v %v", cl, err)
	}
}
