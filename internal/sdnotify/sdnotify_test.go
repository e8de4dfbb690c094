package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyMessages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	t.Setenv(EnvSocket, path)
	if ok, err := Ready("serving 5 services"); !ok || err != nil {
		t.Fatalf("ready: %v %v", ok, err)
	}
	if got := recv(t, c); got != "READY=1\nSTATUS=serving 5 services" {
		t.Fatalf("ready sent %q", got)
	}
	if ok, err := Reloading(); !ok || err != nil {
		t.Fatalf("reloading: %v %v", ok, err)
	}
	got := recv(t, c)
	if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || len(got) <= len("RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("reloading sent %q", got)
	}
	if _, err := Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "STOPPING=1" {
		t.Fatalf("stopping sent %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "gatehouse-test-" + filepath.Base(t.TempDir())
	c := listen(t, "\x00"+name)
	t.Setenv(EnvSocket, "@"+name)
	if ok, err := Stopping(); !ok || err != nil {
		t.Fatalf("abstract: %v %v", ok, err)
	}
	if got := recv(t, c); got != "STOPPING=1" {
		t.Fatalf("abstract sent %q", got)
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv(EnvSocket, "")
	if ok, err := Ready("x"); ok || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v %v", ok, err)
	}
	t.Setenv(EnvSocket, "relative/path")
	if _, err := Ready("x"); err == nil {
		t.Fatal("a relative socket path was accepted")
	}
}
