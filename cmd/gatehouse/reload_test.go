package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/sdnotify"
	"gatehouse/internal/service/clock"
	"gatehouse/internal/tlsutil"
)

// readNotify returns the next message the daemon sent to the notify socket.
func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notify message: %v", err)
	}
	return string(buf[:n])
}

func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	logs.wait(t, 10*time.Second, "log line "+want, func(s string) bool { return strings.Contains(s, want) })
}

// SIGHUP re-reads the configuration without dropping a session in flight:
// the log level changes at once, other changed keys are named as needing a
// restart, and systemd hears RELOADING=1 then READY=1; SIGTERM sends
// STOPPING=1.
func TestServeReloadsOnSIGHUPAndNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	t.Setenv(sdnotify.EnvSocket, sock)
	cfgPath := filepath.Join(dir, "gatehouse.toml")
	if err := os.WriteFile(cfgPath, []byte("[log]\nlevel = \"info\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, addrs, _, logs := startServe(t, "-config", cfgPath)
	if got := readNotify(t, nc); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("first notify %q", got)
	}
	// A clock session in flight across the reload.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := clock.Dial(ctx, addrs["clock"])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Time(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=DEBUG") {
		t.Fatal("debug lines before the level was raised")
	}
	if err := os.WriteFile(cfgPath, []byte("[log]\nlevel = \"debug\"\n[services.clock]\nmax_conns = 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !srv.sig.send(syscall.SIGHUP) {
		t.Fatal("serve does not listen for SIGHUP")
	}
	if got := readNotify(t, nc); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reload notify %q", got)
	}
	if got := readNotify(t, nc); !strings.HasPrefix(got, "READY=1") {
		t.Fatalf("after reload notify %q", got)
	}
	waitLog(t, logs, `msg="configuration reloaded" applied=[log.level] needs_restart=[services.clock.max_conns]`)
	if _, err := s.Date(); err != nil {
		t.Fatalf("session dropped by the reload: %v", err)
	}
	// The new level is in force: a new connection logs at debug.
	s2, err := clock.Dial(ctx, addrs["clock"])
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	waitLog(t, logs, "level=DEBUG")
	// A broken file keeps the running configuration.
	os.WriteFile(cfgPath, []byte("[log]\nlevel = \"loud\"\n"), 0o644)
	srv.sig.send(syscall.SIGHUP)
	waitLog(t, logs, "reload failed; the running configuration stays")
	if _, err := s.Temp(); err != nil {
		t.Fatalf("session dropped by a failed reload: %v", err)
	}
	srv.sig.send(syscall.SIGTERM)
	for {
		got := readNotify(t, nc)
		if got == "STOPPING=1" {
			break
		}
		if !strings.HasPrefix(got, "RELOADING=1") && !strings.HasPrefix(got, "READY=1") {
			t.Fatalf("unexpected notify %q", got)
		}
	}
	if code := srv.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("serve exit: %d\n%s", code, logs.String())
	}
}

// SIGHUP re-reads the TLS certificate files: after the self-signed pair
// is replaced, the daemon logs and serves the new certificate.
func TestServeReloadsTLSCertificateOnSIGHUP(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv, _, _, logs := startServe(t, "-data", data, "-set", "services.clock.tls_listen=127.0.0.1:0")
	m := regexp.MustCompile(`msg="service listening \(TLS\)" service=clock addr=(\S+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no TLS listener logged:\n%s", logs.String())
	}
	certFile, keyFile := tlsutil.SelfSignedPaths(data)
	old, err := tlsutil.CertFileFingerprint(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "fingerprint="+old) {
		t.Fatalf("start-up log lacks the fingerprint %s:\n%s", old, logs.String())
	}
	certPEM, keyPEM, err := tlsutil.GenerateSelfSigned(nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, keyPEM, 0o600)
	os.WriteFile(certFile, certPEM, 0o644)
	next, _ := tlsutil.CertFileFingerprint(certFile)
	if !srv.sig.send(syscall.SIGHUP) {
		t.Fatal("serve does not listen for SIGHUP")
	}
	waitLog(t, logs, `msg="TLS certificate reloaded" cert=`+certFile+` fingerprint=`+next)
	pinned, err := tlsutil.ClientConfig(tlsutil.ClientOptions{Pin: next})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := (&clock.Dialer{TLS: pinned}).Dial(ctx, m[1])
	if err != nil {
		t.Fatalf("new certificate not served: %v", err)
	}
	s.Close()
}
