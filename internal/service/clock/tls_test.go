package clock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/tlsutil/tlstest"
)

// needSocat skips with one line when socat is missing, except under
// CI=true where .ci/run installs it.
func needSocat(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("socat")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the TLS wrapper test needs socat")
	}
	t.Skip("the TLS wrapper test needs socat (Debian package socat)")
	return ""
}

// socatWrapper runs socat as the local TLS wrapper a site with an
// unchangeable client puts next to it: plain TCP on a loopback port in,
// TLS to the Gatehouse tls_listen port out, verifying the server with
// caFile. It returns the plain address the client is pointed at.
func socatWrapper(t *testing.T, socat, tlsAddr, caFile string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(socat,
		fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr", port),
		fmt.Sprintf("OPENSSL:%s,cafile=%s,verify=1", tlsAddr, caFile))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("socat: %s", stderr.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// Wait until socat listens (bounded: 5 s).
	netsvctest.Eventually(t, "socat listening on "+addr, 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return addr
}

// An unmodified client reaches the TLS port through socat on loopback and
// gets the same answers as on the plain port: CPython running the original
// client's wire steps, and the Go client without any TLS option.
func TestTLSThroughSocatForUnchangedClients(t *testing.T) {
	t.Parallel()
	socat := needSocat(t)
	needPython(t)
	p := tlstest.New(t)
	now := time.Date(2024, 10, 23, 0, 2, 19, 198109_000, time.Local)
	o := withFixedTemp(defaultConfig(t, nil, now), 6)
	_, plain, tlsAddr := netsvctest.StartTLS(t, "clock", newServer(t, o, Env{}), defaultLimits(), p.ServerConfig(t, false))
	wrapped := socatWrapper(t, socat, tlsAddr, p.CAFile)

	python := func(addr string) string {
		t.Helper()
		_, port, _ := strings.Cut(addr, ":")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, debianPython, "testdata/original_client_steps.py", port, "5", "123", "0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python client via %s: %v\n%s", addr, err, stderr.String())
		}
		// Each line: the client's private key, the shared key K (the
		// server's exponent is random, so K varies) and the answers.
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f := strings.Fields(l); len(f) == 5 {
				lines = append(lines, f[0]+" "+strings.Join(f[2:], " "))
			}
		}
		return strings.Join(lines, "\n")
	}
	direct, viaTLS := python(plain), python(wrapped)
	if direct != viaTLS || strings.Count(viaTLS, "00:02:19.198109 2024-10-23 6°C") != 3 {
		t.Fatalf("plain port:\n%s\nthrough socat and TLS:\n%s", direct, viaTLS)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := (&Dialer{Timeout: 5 * time.Second}).Dial(ctx, wrapped)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Date(); err != nil || got != "2024-10-23" {
		t.Fatalf("Go client through socat: %q %v", got, err)
	}
}

// The Go client over TLS: served with the right CA, refused with another,
// and a plain client on the TLS port gets no clock answer.
func TestTLSClockClient(t *testing.T) {
	t.Parallel()
	p, other := tlstest.New(t), tlstest.New(t)
	_, _, tlsAddr := netsvctest.StartTLS(t, "clock", newServer(t, withFixedTemp(DefaultConfig(), 6), Env{}), defaultLimits(), p.ServerConfig(t, false))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := (&Dialer{Timeout: 5 * time.Second, TLS: p.ClientConfig(t, "")}).Dial(ctx, tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Temp(); err != nil || !strings.Contains(got, "6") {
		t.Fatalf("TEMP over TLS: %q %v", got, err)
	}
	s.Close()
	if _, err := (&Dialer{Timeout: 5 * time.Second, TLS: other.ClientConfig(t, "")}).Dial(ctx, tlsAddr); err == nil {
		t.Fatal("a client trusting another CA accepted the server")
	}
	_, err = (&Dialer{Timeout: time.Second, Attempts: 1}).Dial(ctx, tlsAddr)
	var ne net.Error
	if err == nil || (!errors.As(err, &ne) && !strings.Contains(err.Error(), "clock")) {
		t.Fatalf("plain client on the TLS port: %v", err)
	}
}
