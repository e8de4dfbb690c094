package e2eeftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/fsutil"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store/storetest"
)

// The fingerprint is OpenSSH's: `ssh-keygen -lf` of "ssh-ed25519 <wire
// encoding>" for the test-vector client key prints this.
func TestFingerprintIsOpenSSHs(t *testing.T) {
	t.Parallel()
	pub := ed25519.NewKeyFromSeed(clientSeed).Public().(ed25519.PublicKey)
	const want = "SHA256:sijgBpZVy7erVIEPkg1iFzd6kBJm7+kWQS9wf+ge734"
	if got := Fingerprint(pub); got != want {
		t.Fatalf("Fingerprint = %s, want %s", got, want)
	}
	if got, err := FingerprintLine(AuthorizedLine(pub)); err != nil || got != want {
		t.Fatalf("FingerprintLine = %s, %v", got, err)
	}
	if _, err := FingerprintLine("not a key"); err == nil {
		t.Fatal("FingerprintLine accepted garbage")
	}
	if got := Fingerprint(pub[:31]); got != "SHA256:?" {
		t.Fatalf("short key: %s", got)
	}
}

// A client whose key the server does not know is told so, with its
// fingerprint and the command that adds it, instead of "reading hello
// length: EOF".
func TestClientUnknownKeyMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := *f.client
	c.Identity = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, 32))
	fp := Fingerprint(c.Identity.Public().(ed25519.PublicKey))
	_, err := c.List(context.Background())
	if !errors.Is(err, ErrClientRefused) {
		t.Fatalf("unknown key: %v", err)
	}
	want := "it probably does not know this client key (" + fp + "; add it with `gatehouse keys e2eeftp add-client`)"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
}

// A server that answers with another identity than the pinned one: both
// fingerprints are named.
func TestClientServerKeyMismatchMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := *f.client
	pinned := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey)
	c.ServerKey = pinned
	_, err := c.List(context.Background())
	if !errors.Is(err, ErrServerIdentity) {
		t.Fatalf("wrong server key: %v", err)
	}
	want := "server key mismatch: expected " + Fingerprint(pinned) + " got " + Fingerprint(f.srvID.Public().(ed25519.PublicKey))
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	var me *ServerKeyMismatchError
	if !errors.As(err, &me) || me.Expected != Fingerprint(pinned) {
		t.Fatalf("not a *ServerKeyMismatchError: %#v", err)
	}
}

// A server that closes half-way through its hello is not reported as a
// refusal of our key.
func TestClientBrokenHandshakeIsNotRefusal(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, HelloLen)
		if _, err := c.Read(buf); err == nil {
			c.Write([]byte{0, 0, 0, 0x80, 1, 2, 3})
		}
		c.Close()
	}()
	c := &Client{Addr: ln.Addr().String(), Identity: ed25519.NewKeyFromSeed(clientSeed), Timeout: 5 * time.Second}
	_, err = c.List(context.Background())
	if err == nil || errors.Is(err, ErrClientRefused) || !strings.Contains(err.Error(), "handshake broken") {
		t.Fatalf("cut server hello: %v", err)
	}
}

// The server names a client by its fingerprint and the authorized key's
// comment, in its log lines and in the connection's identity (/connz); an
// unknown key's refusal is logged with its fingerprint too.
func TestServerNamesClientsByFingerprint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, AuthorizedFile)
	cli := ed25519.NewKeyFromSeed(clientSeed)
	pub := cli.Public().(ed25519.PublicKey)
	if err := fsutil.WriteFileAtomic(path, []byte("# alice laptop\n"+AuthorizedLine(pub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := storetest.SQLite(t)
	shared, err := NewSharedKeys(context.Background(), db, NewAuthorizedKeys(path, nil), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := shared.Comment(pubArray(cli)); got != "alice laptop" {
		t.Fatalf("SharedKeys comment %q", got)
	}
	m := newMetered(t, netsvctest.DefaultLimits, func(_ *Config, e *Env) { e.Keys = shared })
	m.put("a.txt", "a")
	if _, err := m.client.Get(context.Background(), "a.txt", io.Discard); err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(pub)
	// The server logs the request after its reply went out: wait for it.
	named := func() bool {
		logs := m.logs.String()
		return strings.Contains(logs, "client="+fp) && strings.Contains(logs, `client_comment="alice laptop"`)
	}
	for deadline := time.Now().Add(5 * time.Second); !named(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no fingerprint and comment in the log:\n%s", m.logs.String())
		}
	}
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	c := *m.client
	c.Identity = stranger
	if _, err := c.List(context.Background()); !errors.Is(err, ErrClientRefused) {
		t.Fatalf("stranger: %v", err)
	}
	sfp := Fingerprint(stranger.Public().(ed25519.PublicKey))
	waitFor(t, 5*time.Second, "refusal logged", func() bool { return strings.Contains(m.logs.String(), sfp) })

	// The identity /connz shows, read while a session is open.
	conn, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hello, _ := freshHello(t, cli)
	conn.Write(hello)
	if _, err := conn.Read(make([]byte, HelloLen)); err != nil {
		t.Fatal(err)
	}
	want := fp + " (alice laptop)"
	waitFor(t, 5*time.Second, "identity set", func() bool {
		for _, ci := range m.ns.Conns() {
			if ci.Identity == want {
				return true
			}
		}
		return false
	})
}

// Clients lists what `gatehouse keys e2eeftp list` shows: every key the
// store knows with its fingerprint and comment.
func TestClientsForKeysList(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	ctx := context.Background()
	p1 := ed25519.NewKeyFromSeed(clientSeed).Public().(ed25519.PublicKey)
	p2 := ed25519.NewKeyFromSeed(serverSeed).Public().(ed25519.PublicKey)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	db.E2EEFTPAuthorizeClient(ctx, AuthorizedLine(p1), "alice", now)
	db.E2EEFTPAuthorizeClient(ctx, AuthorizedLine(p2), "", now.Add(time.Minute))
	db.E2EEFTPRevokeClient(ctx, AuthorizedLine(p2), now.Add(time.Hour))
	got, err := Clients(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Fingerprint != Fingerprint(p1) || got[0].Comment != "alice" || !got[0].Revoked.IsZero() ||
		got[1].Fingerprint != Fingerprint(p2) || got[1].Revoked.IsZero() || got[0].Key != AuthorizedLine(p1) {
		t.Fatalf("%+v", got)
	}
}
