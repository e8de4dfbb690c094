package services_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"gatehouse/internal/services"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// sharedConfig is one daemon's config in a scale-out pair: PostgreSQL
// metadata and S3 blobs shared, its own data dir, every service on a free
// loopback port.
func sharedConfig(t *testing.T, dsn, bucket string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	cfg.Store.DSN = dsn
	cfg.Blob.URL = "s3://" + bucket + "/shared"
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Listen = "127.0.0.1:0"
	}
	cfg.DrainTimeout = 2 * time.Second
	return cfg
}

// copyKeys gives daemon B the key files daemon A created, as an operator
// does when adding a daemon (README "Running several daemons").
func copyKeys(t *testing.T, from, to string) {
	copyFiles(t, from, to, append([]string{"backup/master.key"}, e2eeftpKeyFiles...)...)
}

var e2eeftpKeyFiles = []string{
	"e2eeftp/" + e2eeftp.ServerKeyFile,
	"e2eeftp/" + e2eeftp.KnownServerFile,
	"e2eeftp/" + e2eeftp.AuthorizedFile,
}

func copyFiles(t *testing.T, from, to string, rels ...string) {
	for _, rel := range rels {
		b, err := os.ReadFile(filepath.Join(from, rel))
		if err != nil {
			t.Fatalf("daemon A has no %s: %v", rel, err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTwoDaemonsShareState runs on PostgreSQL with the in-process S3 fake
// and with the real S3 server (SigV4, real multipart) that .ci/run starts.
func TestTwoDaemonsShareState(t *testing.T) {
	t.Run("fake-s3", func(t *testing.T) {
		blobtest.FakeS3Env(t, "gatehouse")
		testTwoDaemonsShareState(t, "gatehouse")
	})
	t.Run("real-s3", func(t *testing.T) {
		testTwoDaemonsShareState(t, blobtest.RealS3Env(t))
	})
}

func testTwoDaemonsShareState(t *testing.T, bucket string) {
	dsn := storetest.PGDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	cfgA, cfgB := sharedConfig(t, dsn, bucket), sharedConfig(t, dsn, bucket)
	// The e2eeftp client is authorized on A before B copies the keys.
	clientPub, clientKey, _ := ed25519.GenerateKey(rand.Reader)
	serverPub := func() ed25519.PublicKey {
		kd := e2eeftp.KeyDir(filepath.Join(cfgA.DataDir, "e2eeftp"))
		priv, err := kd.Init(false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kd.Authorize(clientPub, "scale-out test"); err != nil {
			t.Fatal(err)
		}
		return priv.Public().(ed25519.PublicKey)
	}()

	a, err := daemon.Start(ctx, cfgA, log.With("daemon", "A"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	copyKeys(t, cfgA.DataDir, cfgB.DataDir)
	b, err := daemon.Start(ctx, cfgB, log.With("daemon", "B"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	addr := func(d *daemon.Daemon, svc string) string { return d.Server.Addr(svc).String() }

	t.Run("backup registers on A, reconnects and uploads on B", func(t *testing.T) {
		key, err := backup.GenerateLegacyKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &backup.Client{Addr: addr(a, "backup"), Name: "scaleout", Key: key, Timeout: 10 * time.Second}
		if err := c.Register(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.ExchangeKeys(ctx); err != nil {
			t.Fatal(err)
		}
		keyOnA := append([]byte(nil), c.AESKey...)
		c.Addr = addr(b, "backup")
		c.AESKey = nil
		if err := c.Reconnect(ctx); err != nil {
			t.Fatalf("reconnect on B: %v", err)
		}
		if !bytes.Equal(c.AESKey, keyOnA) {
			t.Fatal("daemon B returned a different AES key than A issued")
		}
		data := bytes.Repeat([]byte("gatehouse scale-out "), 5000)
		res, err := c.Upload(ctx, "report.txt", bytes.NewReader(data), int64(len(data)))
		if err != nil || !res.Verified {
			t.Fatalf("upload on B: %+v %v", res, err)
		}
		// A sees the verified file B stored, through the shared store and blobs.
		files, err := a.Store.BackupFiles(ctx, string(c.ID.String()))
		if err != nil || len(files) != 1 || !files[0].Verified || files[0].FileName != "report.txt" {
			t.Fatalf("daemon A's view of the files: %+v %v", files, err)
		}
		if _, err := blob.Prefixed(a.Blob, "backup").Stat(ctx, files[0].Path); err != nil {
			t.Fatalf("daemon A cannot see the blob B wrote: %v", err)
		}
		// Restore through A what was uploaded through B: listed, and
		// byte for byte.
		c.Addr = addr(a, "backup")
		l, err := c.List(ctx)
		if err != nil || len(l.Entries) != 1 || l.Entries[0].Name != "report.txt" || l.Entries[0].Version != 1 {
			t.Fatalf("list on A: %+v %v", l, err)
		}
		var got bytes.Buffer
		if _, err := c.Restore(ctx, "report.txt", 0, nil, 0, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("restore on A: %d bytes %v", got.Len(), err)
		}
	})

	t.Run("cloudreport client added through A is served by B", func(t *testing.T) {
		if err := a.Store.CloudreportAddClient(ctx, store.CloudreportClient{
			ID: "00005ca1", Name: "Scale-out Ltd", Enabled: true,
			Expires: time.Now().AddDate(1, 0, 0).UTC(), Created: time.Now(),
		}); err != nil {
			t.Fatal(err)
		}
		c, err := cloudreport.Dial(ctx, addr(b, "cloudreport"), cloudreport.ClientOptions{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Init(3); err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(cloudreport.Fields{{Key: "ID", Value: "00005ca1"}})
		if err != nil {
			t.Fatalf("INFO on B for a client added on A: %v", err)
		}
		wantEx := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
		if id, _ := info.Get("ID"); id != "00005ca1" {
			t.Fatalf("INFO reply ID %q: %+v", id, info)
		}
		if ex, _ := info.Get("EX"); ex != wantEx {
			t.Fatalf("INFO reply EX %q, want the expiry stored through A (%s)", ex, wantEx)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("e2eeftp file sent to A is listed and fetched from B", func(t *testing.T) {
		payload := make([]byte, 300_000)
		rand.Read(payload)
		ca := &e2eeftp.Client{Addr: addr(a, "e2eeftp"), Identity: clientKey, ServerKey: serverPub, Timeout: 10 * time.Second}
		if err := ca.Send(ctx, "shared.bin", bytes.NewReader(payload), int64(len(payload))); err != nil {
			t.Fatalf("send to A: %v", err)
		}
		cb := *ca
		cb.Addr = addr(b, "e2eeftp")
		names, err := cb.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, n := range names {
			found = found || n == "shared.bin"
		}
		if !found {
			t.Fatalf("B lists %v, without the file sent to A", names)
		}
		var got bytes.Buffer
		if _, err := cb.Get(ctx, "shared.bin", &got); err != nil {
			t.Fatalf("get from B: %v", err)
		}
		if !bytes.Equal(got.Bytes(), payload) {
			t.Fatal("B returned different bytes than were sent to A")
		}
	})

	t.Run("cloudreport update published once is served by A and B", func(t *testing.T) {
		content := bytes.Repeat([]byte("update "), 3000)
		if _, err := cloudreport.PublishUpdate(ctx, blob.Prefixed(a.Blob, "cloudreport"), "app.zip", bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*daemon.Daemon{a, b} {
			c, err := cloudreport.Dial(ctx, addr(d, "cloudreport"), cloudreport.ClientOptions{Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Init(3); err != nil {
				t.Fatal(err)
			}
			vers, err := c.Vers()
			if err != nil {
				t.Fatal(err)
			}
			if f1, _ := vers.Get("F1"); f1 != "app.zip" {
				t.Fatalf("VERS on %s lists %+v", addr(d, "cloudreport"), vers)
			}
			_, got, err := c.Download("app.zip")
			c.Close()
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("DWNL on %s: %d bytes, %v", addr(d, "cloudreport"), len(got), err)
			}
		}
		if err := cloudreport.UnpublishUpdate(ctx, blob.Prefixed(b.Blob, "cloudreport"), "app.zip"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("e2eeftp client authorized through A is served by B; revoked, refused by both", func(t *testing.T) {
		pub, key, _ := ed25519.GenerateKey(rand.Reader)
		// What 'gatehouse keys e2eeftp add-client' does on A's machine.
		if _, err := a.Store.E2EEFTPAuthorizeClient(ctx, e2eeftp.AuthorizedLine(pub), "late", time.Now()); err != nil {
			t.Fatal(err)
		}
		cb := &e2eeftp.Client{Addr: addr(b, "e2eeftp"), Identity: key, ServerKey: serverPub, Timeout: 10 * time.Second}
		if _, err := cb.List(ctx); err != nil {
			t.Fatalf("B refuses a client just authorized: %v", err)
		}
		if _, err := a.Store.E2EEFTPRevokeClient(ctx, e2eeftp.AuthorizedLine(pub), time.Now()); err != nil {
			t.Fatal(err)
		}
		// Refused by both within the documented bound (e2eeftp.DefaultKeyRefresh).
		ca := *cb
		ca.Addr = addr(a, "e2eeftp")
		deadline := time.Now().Add(e2eeftp.DefaultKeyRefresh + 3*time.Second)
		for _, c := range []*e2eeftp.Client{cb, &ca} {
			for {
				if _, err := c.List(ctx); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still serves a revoked client after %v", c.Addr, e2eeftp.DefaultKeyRefresh+3*time.Second)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
}
