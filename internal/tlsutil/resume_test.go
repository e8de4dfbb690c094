package tlsutil_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"

	"gatehouse/internal/tlsutil"
	"gatehouse/internal/tlsutil/tlstest"
)

// tlsEcho serves cfg on loopback: each connection completes its
// handshake, reports whether it resumed and the client certificate's
// common name, writes one line and closes.
func tlsEcho(t *testing.T, cfg *tls.Config) (addr string, seen <-chan [2]string) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan [2]string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				ch <- [2]string{"handshake failed", err.Error()}
				c.Close()
				continue
			}
			st := tc.ConnectionState()
			cn, _ := tlsutil.PeerCommonName(&st)
			resumed := "full"
			if st.DidResume {
				resumed = "resumed"
			}
			ch <- [2]string{resumed, cn}
			tc.Write([]byte("ok\n"))
			tc.Close()
		}
	}()
	return ln.Addr().String(), ch
}

// dialOnce connects with cfg, reads the server's line (which also takes in
// the session ticket sent after the handshake) and says whether the
// client resumed.
func dialOnce(t *testing.T, addr string, cfg *tls.Config) bool {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tlsutil.Client(t.Context(), nc, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil || line != "ok\n" {
		t.Fatalf("reply %q %v", line, err)
	}
	return tc.ConnectionState().DidResume
}

// A client configuration resumes its sessions on the next connection to
// the same server, with the CA, with a pin, and with a client certificate
// whose identity the server still sees on the resumed connection; a new
// configuration (another pin, another CA) starts with no sessions.
func TestClientSessionsResume(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	for _, tc := range []struct {
		name string
		mtls bool
		cfg  func() *tls.Config
		cn   string
	}{
		{"ca", false, func() *tls.Config { return p.ClientConfig(t, "") }, ""},
		{"mutual", true, func() *tls.Config { return p.ClientConfig(t, "client-7") }, "client-7"},
		{"pin", false, func() *tls.Config {
			cfg, err := tlsutil.ClientConfig(tlsutil.ClientOptions{Pin: p.ServerFingerprint})
			if err != nil {
				t.Fatal(err)
			}
			return cfg
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, seen := tlsEcho(t, p.ServerConfig(t, tc.mtls))
			cfg := tc.cfg()
			for i, want := range []string{"full", "resumed", "resumed"} {
				resumed := dialOnce(t, addr, cfg)
				got := <-seen
				if got[0] != want || resumed != (want == "resumed") || got[1] != tc.cn {
					t.Fatalf("connection %d: server saw %v, client resumed=%v; want %s with identity %q",
						i+1, got, resumed, want, tc.cn)
				}
			}
			if dialOnce(t, addr, tc.cfg()) {
				t.Fatal("a new configuration resumed another one's session")
			}
			<-seen
		})
	}
}
