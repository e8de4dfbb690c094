package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/tlsutil"
	"gatehouse/internal/tlsutil/tlstest"
)

// 'keys tls init' makes the self-signed certificate the daemon would, and
// 'keys tls show' prints its fingerprint for every service whose
// tls_listen is set, "off" for the others, and never lists zmqcmd.
func TestKeysTLSInitAndShow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := runTLSKeys(bufEnv(&out, io.Discard), []string{"show", "-data", dir}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "not generated yet") {
		t.Fatalf("show before init:\n%s", out.String())
	}
	out.Reset()
	if err := runTLSKeys(bufEnv(&out, io.Discard), []string{"init", "-data", dir}); err != nil {
		t.Fatal(err)
	}
	cert, key := tlsutil.SelfSignedPaths(dir)
	fp, err := tlsutil.CertFileFingerprint(cert)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); lines[len(lines)-1] != fp {
		t.Fatalf("init printed:\n%s\nwant the fingerprint %s last", out.String(), fp)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	out.Reset()
	if err := runTLSKeys(bufEnv(&out, io.Discard), []string{"show", "-data", dir, "-set", "services.clock.tls_listen=127.0.0.1:7778"}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		f := strings.Fields(l)
		lines[f[0]] = l
	}
	if l := lines["clock"]; !strings.Contains(l, "127.0.0.1:7778") || !strings.Contains(l, fp) || !strings.Contains(l, filepath.Join(dir, "tls")) {
		t.Fatalf("clock line %q (want port, %s, file)", l, fp)
	}
	if l := lines["backup"]; !strings.Contains(l, " off ") {
		t.Fatalf("backup line %q, want off", l)
	}
	if _, ok := lines["zmqcmd"]; ok {
		t.Fatalf("zmqcmd listed:\n%s", got)
	}
	out.Reset()
	if err := runTLSKeys(bufEnv(&out, io.Discard), []string{"init", "-data", dir}); err != nil || !strings.Contains(out.String(), fp) {
		t.Fatalf("second init replaced the certificate: %q %v", out.String(), err)
	}
}

// The client flags: -tls with -tls-pin or -tls-ca reaches the TLS port;
// a wrong pin is refused; TLS flags without -tls are an error.
func TestClockClientTLSFlags(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	_, _, tlsAddr := netsvctest.StartTLS(t, "clock", clockServer(t),
		netsvctest.DefaultLimits, p.ServerConfig(t, false))
	host, port, _ := net.SplitHostPort(tlsAddr)
	ctx := context.Background()
	for _, flags := range [][]string{{"-tls-pin", p.ServerFingerprint}, {"-tls-ca", p.CAFile}} {
		args := append([]string{"--host", host, "--port", port, "-tls"}, flags...)
		out, errOut, err := runClock(t, ctx, strings.NewReader(""), append(args, "date")...)
		if err != nil || !dateLine.MatchString(out) {
			t.Fatalf("%v: %q %q %v", flags, out, errOut, err)
		}
	}
	other := tlstest.New(t)
	if _, _, err := runClock(t, ctx, strings.NewReader(""), "--host", host, "--port", port, "-tls", "-tls-pin", other.ServerFingerprint, "date"); err == nil ||
		!strings.Contains(err.Error(), "pinned") {
		t.Fatalf("wrong pin: %v", err)
	}
	if _, _, err := runClock(t, ctx, strings.NewReader(""), "--host", host, "--port", port, "-tls-pin", p.ServerFingerprint, "date"); err == nil ||
		!strings.Contains(err.Error(), "need --tls") {
		t.Fatalf("-tls-pin without -tls: %v", err)
	}
}
