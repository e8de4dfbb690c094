package services_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"gatehouse/internal/services"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/service/clock"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/tlsutil"
	"gatehouse/internal/tlsutil/tlstest"
)

var tlsServices = []string{"cloudreport", "backup", "clock", "e2eeftp"}

// tlsDaemonConfig enables the four TCP services, each with a plain and a
// TLS listener on free loopback ports.
func tlsDaemonConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	cfg.DrainTimeout = 2 * time.Second
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n != "zmqcmd"
		sc.Listen = "127.0.0.1:0"
		if sc.Enabled {
			sc.TLSListen = "127.0.0.1:0"
		}
	}
	cfg.Services.Backup.PortInfo = false
	return cfg
}

func startDaemon(t *testing.T, cfg *config.Config) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown() })
	return d
}

// e2eClient authorizes a new client identity in the daemon's e2eeftp key
// folder (before start) and returns a client for it.
func e2eClient(t *testing.T, cfg *config.Config) *e2eeftp.Client {
	t.Helper()
	kd := e2eeftp.KeyDir(filepath.Join(cfg.DataDir, "e2eeftp"))
	if err := os.MkdirAll(string(kd), 0o750); err != nil {
		t.Fatal(err)
	}
	id, _, _, err := kd.LoadOrInit()
	if err != nil {
		t.Fatal(err)
	}
	_, cli, _ := ed25519.GenerateKey(nil)
	if _, err := kd.Authorize(cli.Public().(ed25519.PublicKey), "tls test"); err != nil {
		t.Fatal(err)
	}
	return &e2eeftp.Client{Identity: cli, ServerKey: id.Public().(ed25519.PublicKey), Timeout: 10 * time.Second}
}

// oneRequestEach runs one request of every TCP service at the given
// addresses (tlsCfg nil: plain) and returns the answers that must be the
// same on either port.
func oneRequestEach(t *testing.T, addr func(string) string, tlsCfg *tls.Config, e2e *e2eeftp.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []string

	cs, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: tlsCfg}).Dial(ctx, addr("clock"))
	if err != nil {
		t.Fatalf("clock: %v", err)
	}
	_, err = cs.Temp()
	cs.Close()
	if err != nil {
		t.Fatalf("clock TEMP: %v", err)
	}
	out = append(out, "clock ok")

	cr, err := cloudreport.Dial(ctx, addr("cloudreport"), cloudreport.ClientOptions{Timeout: 5 * time.Second, TLS: tlsCfg})
	if err != nil {
		t.Fatalf("cloudreport: %v", err)
	}
	if _, err := cr.Init(2); err != nil {
		t.Fatalf("cloudreport INIT: %v", err)
	}
	info, err := cr.Info(cloudreport.Fields{{Key: "ID", Value: "0000ABCD"}, {Key: "FN", Value: "Firm"}})
	cr.Close()
	if err != nil {
		t.Fatalf("cloudreport INFO: %v", err)
	}
	en, _ := info.Get("EN")
	out = append(out, "cloudreport EN="+en)

	bc := &backup.Client{Addr: addr("backup"), Name: "tls-test", Timeout: 5 * time.Second, Attempts: 1, TLS: tlsCfg}
	if err := bc.Register(ctx); err != nil {
		t.Fatalf("backup register: %v", err)
	}
	if err := bc.ExchangeKeys(ctx); err != nil {
		t.Fatalf("backup keys: %v", err)
	}
	body := []byte("backed up over one of the ports\n")
	res, err := bc.Upload(ctx, "note.txt", bytes.NewReader(body), int64(len(body)))
	if err != nil || !res.Verified {
		t.Fatalf("backup upload: %+v %v", res, err)
	}
	out = append(out, "backup verified")

	ec := *e2e
	ec.Addr, ec.TLS = addr("e2eeftp"), tlsCfg
	if err := ec.Send(ctx, "f.txt", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("e2eeftp SEND: %v", err)
	}
	var got bytes.Buffer
	if _, err := ec.Get(ctx, "f.txt", &got); err != nil || !bytes.Equal(got.Bytes(), body) {
		t.Fatalf("e2eeftp GET: %q %v", got.Bytes(), err)
	}
	out = append(out, "e2eeftp round trip")
	return out
}

// Every TCP service answers on its tls_listen port exactly as on its plain
// port; a client that trusts another CA, or pins another certificate,
// refuses the server.
func TestTLSListenersServeEveryTCPService(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	cfg := tlsDaemonConfig(t)
	for _, n := range tlsServices {
		sc, _ := services.Common(cfg, n)
		sc.TLSCert, sc.TLSKey = p.CertFile, p.KeyFile
	}
	e2e := e2eClient(t, cfg)
	d := startDaemon(t, cfg)
	plain := oneRequestEach(t, func(n string) string { return d.Server.Addr(n).String() }, nil, e2e)
	tlsAddr := func(n string) string { return d.Server.TLSAddr(n).String() }
	overTLS := oneRequestEach(t, tlsAddr, p.ClientConfig(t, ""), e2e)
	if strings.Join(plain, "|") != strings.Join(overTLS, "|") {
		t.Fatalf("plain %q, TLS %q", plain, overTLS)
	}
	pinned, err := tlsutil.ClientConfig(tlsutil.ClientOptions{Pin: p.ServerFingerprint})
	if err != nil {
		t.Fatal(err)
	}
	oneRequestEach(t, tlsAddr, pinned, e2e)

	other := tlstest.New(t)
	wrongPin, err := tlsutil.ClientConfig(tlsutil.ClientOptions{Pin: other.ServerFingerprint})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, cfg := range map[string]*tls.Config{"another CA": other.ClientConfig(t, ""), "another pin": wrongPin} {
		if _, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: cfg}).Dial(ctx, tlsAddr("clock")); err == nil {
			t.Errorf("clock client with %s accepted the server", name)
		}
		if _, err := cloudreport.Dial(ctx, tlsAddr("cloudreport"), cloudreport.ClientOptions{TLS: cfg}); err == nil {
			t.Errorf("cloudreport client with %s accepted the server", name)
		}
		bc := &backup.Client{Addr: tlsAddr("backup"), Name: "x", Timeout: 5 * time.Second, Attempts: 1, TLS: cfg}
		if err := bc.Register(ctx); err == nil {
			t.Errorf("backup client with %s accepted the server", name)
		}
		ec := *e2e
		ec.Addr, ec.TLS = tlsAddr("e2eeftp"), cfg
		if _, err := ec.List(ctx); err == nil {
			t.Errorf("e2eeftp client with %s accepted the server", name)
		}
	}
	if _, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: wrongPin}).Dial(ctx, tlsAddr("clock")); !errors.Is(err, tlsutil.ErrPinMismatch) {
		t.Errorf("wrong pin: %v, want the pin mismatch", err)
	}
}

// Without tls_cert/tls_key the daemon generates a self-signed certificate
// (key 0600) on first start and reuses it afterwards; clients pin its
// fingerprint or trust the certificate file itself.
func TestTLSSelfSignedCertificate(t *testing.T) {
	t.Parallel()
	cfg := onlyClock(t)
	cfg.Services.Clock.TLSListen = "127.0.0.1:0"
	d := startDaemon(t, cfg)
	certFile, keyFile := tlsutil.SelfSignedPaths(cfg.DataDir)
	st, err := os.Stat(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	fp, err := tlsutil.CertFileFingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := tlsutil.ClientConfig(tlsutil.ClientOptions{Pin: fp})
	if err != nil {
		t.Fatal(err)
	}
	byCA, err := tlsutil.ClientConfig(tlsutil.ClientOptions{CAFile: certFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, c := range map[string]*tls.Config{"pin": pinned, "certificate as CA": byCA} {
		s, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: c}).Dial(ctx, d.Server.TLSAddr("clock").String())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.Time(); err != nil {
			t.Fatalf("%s: TIME: %v", name, err)
		}
		s.Close()
	}
	d.Shutdown()
	d = startDaemon(t, cfg)
	if again, _ := tlsutil.CertFileFingerprint(certFile); again != fp {
		t.Fatalf("restart made a new certificate: %s, was %s", again, fp)
	}
	s, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: pinned}).Dial(ctx, d.Server.TLSAddr("clock").String())
	if err != nil {
		t.Fatalf("pin after restart: %v", err)
	}
	s.Close()
}

// Reload (SIGHUP) re-reads the certificate files: new connections get the
// new certificate; a pair that does not load keeps the old one.
func TestTLSReloadReadsNewCertificate(t *testing.T) {
	t.Parallel()
	p, next := tlstest.New(t), tlstest.New(t)
	cfg := onlyClock(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	copyFile(t, p.CertFile, certFile)
	copyFile(t, p.KeyFile, keyFile)
	cfg.Services.Clock.TLSListen = "127.0.0.1:0"
	cfg.Services.Clock.TLSCert, cfg.Services.Clock.TLSKey = certFile, keyFile
	d := startDaemon(t, cfg)
	addr := d.Server.TLSAddr("clock").String()
	seen := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return tlsutil.Fingerprint(c.ConnectionState().PeerCertificates[0].Raw)
	}
	if got := seen(); got != p.ServerFingerprint {
		t.Fatalf("before reload: %s", got)
	}
	copyFile(t, next.CertFile, certFile)
	copyFile(t, next.KeyFile, keyFile)
	if got := seen(); got != p.ServerFingerprint {
		t.Fatalf("certificate changed without a reload: %s", got)
	}
	d.Reload()
	if got := seen(); got != next.ServerFingerprint {
		t.Fatalf("after reload: %s, want %s", got, next.ServerFingerprint)
	}
	os.WriteFile(keyFile, []byte("broken"), 0o600)
	d.Reload()
	if got := seen(); got != next.ServerFingerprint {
		t.Fatalf("a broken key replaced the certificate in use: %s", got)
	}
}

// zmqcmd has no TLS listener: the daemon refuses tls_listen there.
func TestTLSListenRefusedForZMQCmd(t *testing.T) {
	t.Parallel()
	cfg := onlyClock(t)
	cfg.Services.ZMQCmd.TLSListen = "127.0.0.1:0"
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		d.Shutdown()
		t.Fatal("started with services.zmqcmd.tls_listen")
	}
	if !strings.Contains(err.Error(), "services.zmqcmd.tls_listen") {
		t.Fatalf("error does not name the key: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Mutual TLS (tls_client_ca): a client without a certificate, or with one
// of another CA, is not served on any TLS port; a certificate's common
// name is the only backup client id and cloudreport id its connection may
// act as, and another id gets the protocol's own refusal.
func TestTLSClientCertificatesMapToIdentity(t *testing.T) {
	t.Parallel()
	p, other := tlstest.New(t), tlstest.New(t)
	cfg := tlsDaemonConfig(t)
	for _, n := range tlsServices {
		sc, _ := services.Common(cfg, n)
		sc.TLSCert, sc.TLSKey, sc.TLSClientCA = p.CertFile, p.KeyFile, p.CAFile
	}
	e2e := e2eClient(t, cfg)
	d := startDaemon(t, cfg)
	plainAddr := func(n string) string { return d.Server.Addr(n).String() }
	tlsAddr := func(n string) string { return d.Server.TLSAddr(n).String() }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Two backup clients registered on the plain port; the certificate
	// names the first.
	alice := &backup.Client{Addr: plainAddr("backup"), Name: "alice", Timeout: 5 * time.Second, Attempts: 1}
	bob := &backup.Client{Addr: plainAddr("backup"), Name: "bob", Timeout: 5 * time.Second, Attempts: 1}
	for _, c := range []*backup.Client{alice, bob} {
		if err := c.Register(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.ExchangeKeys(ctx); err != nil {
			t.Fatal(err)
		}
	}
	aliceTLS := p.ClientConfig(t, alice.ID.String())
	noCert := p.ClientConfig(t, "")
	wrongCA := p.ClientConfig(t, "")
	cf, kf := other.Client(t, alice.ID.String())
	wc, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA.Certificates = []tls.Certificate{wc}

	body := []byte("only alice may store this\n")
	alice.Addr, alice.TLS = tlsAddr("backup"), aliceTLS
	if err := alice.Reconnect(ctx); err != nil {
		t.Fatalf("alice reconnects with her certificate: %v", err)
	}
	if res, err := alice.Upload(ctx, "a.txt", bytes.NewReader(body), int64(len(body))); err != nil || !res.Verified {
		t.Fatalf("alice uploads with her certificate: %+v %v", res, err)
	}
	bob.Addr, bob.TLS = tlsAddr("backup"), aliceTLS
	if err := bob.Reconnect(ctx); !errors.Is(err, backup.ErrReconnectDenied) {
		t.Fatalf("bob's id with alice's certificate, 1027: %v, want 2106", err)
	}
	_, err = bob.Upload(ctx, "b.txt", bytes.NewReader(body), int64(len(body)))
	var re *backup.ResponseError
	if !errors.As(err, &re) || re.Response != 2107 {
		t.Fatalf("bob's id with alice's certificate, 1028: %v, want 2107", err)
	}
	if files, err := d.Store.BackupFiles(ctx, bob.ID.String()); err != nil || len(files) != 0 {
		t.Fatalf("bob's files: %v %v", files, err)
	}

	// cloudreport: the certificate's CN is the INFO id (any case).
	crTLS := p.ClientConfig(t, "0000abcd")
	cr, err := cloudreport.Dial(ctx, tlsAddr("cloudreport"), cloudreport.ClientOptions{Timeout: 5 * time.Second, TLS: crTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	if _, err := cr.Init(2); err != nil {
		t.Fatal(err)
	}
	if _, err := cr.Info(cloudreport.Fields{{Key: "ID", Value: "0000ABCD"}}); err != nil {
		t.Fatalf("INFO for the certificate's id: %v", err)
	}
	var rep *cloudreport.ReplyError
	if _, err := cr.Info(cloudreport.Fields{{Key: "ID", Value: "0000FFFF"}}); !errors.As(err, &rep) || !strings.Contains(rep.Text, "not found") {
		t.Fatalf("INFO for another id: %v, want the unknown-client answer", err)
	}
	if _, err := d.Store.CloudreportClient(ctx, "0000ffff"); err == nil {
		t.Fatal("the refused id was recorded")
	}

	// No certificate, or one of another CA: nothing is served.
	for name, c := range map[string]*tls.Config{"no certificate": noCert, "another CA's certificate": wrongCA} {
		if s, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: c}).Dial(ctx, tlsAddr("clock")); err == nil {
			s.Close()
			t.Errorf("clock served a client with %s", name)
		}
		if c2, err := cloudreport.Dial(ctx, tlsAddr("cloudreport"), cloudreport.ClientOptions{Timeout: 5 * time.Second, TLS: c}); err == nil {
			if _, err := c2.Init(2); err == nil {
				t.Errorf("cloudreport served a client with %s", name)
			}
			c2.Close()
		}
		bc := &backup.Client{Addr: tlsAddr("backup"), Name: "x", Timeout: 5 * time.Second, Attempts: 1, TLS: c}
		if err := bc.Register(ctx); err == nil {
			t.Errorf("backup served a client with %s", name)
		}
		ec := *e2e
		ec.Addr, ec.TLS = tlsAddr("e2eeftp"), c
		if _, err := ec.List(ctx); err == nil {
			t.Errorf("e2eeftp served a client with %s", name)
		}
	}
	// With a certificate, clock and e2eeftp (no client identity in their
	// protocol) serve.
	anyCert := p.ClientConfig(t, "some host")
	s, err := (&clock.Dialer{Timeout: 5 * time.Second, TLS: anyCert}).Dial(ctx, tlsAddr("clock"))
	if err != nil {
		t.Fatalf("clock with a certificate: %v", err)
	}
	s.Close()
	ec := *e2e
	ec.Addr, ec.TLS = tlsAddr("e2eeftp"), anyCert
	if _, err := ec.List(ctx); err != nil {
		t.Fatalf("e2eeftp with a certificate: %v", err)
	}
}
