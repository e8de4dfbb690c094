package e2eeftp

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeOriginal stands in for the original server, which is not available
// here: it runs a real handshake as identity srvID, checks the command line,
// then writes reply exactly (in the pieces given) and closes, as the
// original does after its one command. The thing under test is the client.
func fakeOriginal(t *testing.T, srvID ed25519.PrivateKey, wantLine string, reply ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if _, err := ReadHello(r); err != nil {
			t.Errorf("fake server: client hello: %v", err)
			return
		}
		eph, err := newEphemeral(strings.NewReader(strings.Repeat("\x42", 32)))
		if err != nil {
			t.Error(err)
			return
		}
		sh := NewHello(srvID, eph.PublicKey())
		c.Write(sh.Marshal())
		line, err := r.ReadString('\n')
		if err != nil || line != wantLine {
			t.Errorf("fake server: command line %q, %v; want %q", line, err, wantLine)
			return
		}
		for _, p := range reply {
			c.Write([]byte(p))
		}
	}()
	return ln.Addr().String()
}

// The original server's LIST header counts characters, not bytes; the Go
// client reads the listing to the end of the stream, so non-ASCII names
// come through whole. The replies are the original's bytes (golden
// responses in docs/e2eeftp.md's deviation 6), plus longer multi-byte
// names where a character count would cut a UTF-8 sequence.
func TestClientListAgainstOriginalServer(t *testing.T) {
	t.Parallel()
	srvID := ed25519.NewKeyFromSeed(serverSeed)
	cliID := ed25519.NewKeyFromSeed(clientSeed)
	for _, tc := range []struct {
		name  string
		reply []string
		want  []string
	}{
		{"ascii", []string{"200|15\n", "b.bin\nhello.txt"}, []string{"b.bin", "hello.txt"}},
		{"empty", []string{"200|0\n"}, []string{}},
		{"café: 20 characters, 21 bytes", []string{"200|20\ncaf\xc3\xa9.txt\nu.txt\nb.bin"},
			[]string{"café.txt", "u.txt", "b.bin"}},
		{"CJK: 9 characters, 16 bytes", []string{"200|9\n", "日本語.txt\nü"}, []string{"日本語.txt", "ü"}},
		{"one write", []string{"200|4\nü.a"}, []string{"ü.a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeOriginal(t, srvID, "LIST\n", tc.reply...)
			c := &Client{Addr: addr, Identity: cliID, ServerKey: srvID.Public().(ed25519.PublicKey), Timeout: 5 * time.Second}
			names, err := c.List(context.Background())
			if err != nil || !reflect.DeepEqual(names, tc.want) {
				t.Fatalf("List = %q, %v; want %q", names, err, tc.want)
			}
		})
	}

	// The original announces the listing, then fails on a name that is not
	// UTF-8 and sends its 400 line as the body; a listing shorter than
	// announced is cut short. Both are errors, not names.
	for _, tc := range []struct {
		name  string
		reply []string
		check func(error) bool
	}{
		{"non-utf8 name", []string{"200|5\n", StatusMalformed}, func(err error) bool { return statusCode(err) == 400 }},
		{"cut short", []string{"200|30\nb.bin"}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeOriginal(t, srvID, "LIST\n", tc.reply...)
			c := &Client{Addr: addr, Identity: cliID, ServerKey: srvID.Public().(ed25519.PublicKey), Timeout: 5 * time.Second}
			if names, err := c.List(context.Background()); !tc.check(err) {
				t.Fatalf("List = %q, %v", names, err)
			}
		})
	}
}
