package zmqcmd

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/zmtp"
)

// curveSetup is a key folder as 'gatehouse keys zmqcmd' lays it out, plus
// two client certificates: alice (authorized) and mallory (not).
type curveSetup struct {
	dir, alice, mallory string
	server              Cert
}

func newCert(t testing.TB) Cert {
	t.Helper()
	pub, sec, err := zmtp.GenerateCurveKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return Cert{Public: pub, Secret: sec, HasSecret: true}
}

func writeCert(t testing.TB, path string, c Cert) {
	t.Helper()
	if err := os.WriteFile(path, MarshalCert(c, true, ""), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCurveSetup(t testing.TB) *curveSetup {
	t.Helper()
	cs := &curveSetup{dir: t.TempDir(), server: newCert(t)}
	writeCert(t, filepath.Join(cs.dir, ServerSecretFile), cs.server)
	cs.alice = filepath.Join(cs.dir, "alice.key_secret")
	cs.mallory = filepath.Join(cs.dir, "mallory.key_secret")
	alice, mallory := newCert(t), newCert(t)
	writeCert(t, cs.alice, alice)
	writeCert(t, cs.mallory, mallory)
	cs.authorize(t, alice)
	return cs
}

func (cs *curveSetup) authorize(t testing.TB, certs ...Cert) {
	t.Helper()
	var b strings.Builder
	for i, c := range certs {
		b.WriteString("# client " + string(rune('a'+i)) + "\n" + AuthorizedLine(c.Public) + "\n")
	}
	if err := os.WriteFile(filepath.Join(cs.dir, AuthorizedFile), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (cs *curveSetup) cert(t testing.TB, path string) Cert {
	t.Helper()
	c, _, err := LoadCert(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startBoth serves cfg on a NULL port and a CURVE port (one Server, as the
// daemon does) with metrics in reg.
func startBoth(t *testing.T, cfg Config, cs *curveSetup) (nullAddr, curveAddr string, reg *prometheus.Registry) {
	t.Helper()
	return startBothTB(t, cfg, cs)
}

func startBothB(b *testing.B, cfg Config, cs *curveSetup) (nullAddr, curveAddr string) {
	b.Helper()
	nullAddr, curveAddr, _ = startBothTB(b, cfg, cs)
	return nullAddr, curveAddr
}

func startBothTB(t testing.TB, cfg Config, cs *curveSetup) (nullAddr, curveAddr string, reg *prometheus.Registry) {
	t.Helper()
	key, _, err := LoadServerCert(cs.dir)
	if err != nil {
		t.Fatal(err)
	}
	auth := NewAuthorizedKeys(filepath.Join(cs.dir, AuthorizedFile), nil)
	s, err := New(cfg, Env{CurveKey: &key, CurveAllowed: auth.Contains})
	if err != nil {
		t.Fatal(err)
	}
	ch := s.CurveHandler()
	reg = prometheus.NewRegistry()
	srv := netsvc.New(nil, netsvc.NewMetrics(reg))
	l := netsvctest.DefaultLimits
	if err := srv.Listen(netsvc.Service{Name: "zmqcmd", Addr: "127.0.0.1:0", Handler: s, Limits: l},
		netsvc.Service{Name: "zmqcmd-curve", Addr: "127.0.0.1:0", Handler: ch, Limits: l}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr("zmqcmd").String(), srv.Addr("zmqcmd-curve").String(), reg
}

// handshakeFailures is gatehouse_handshake_failures_total{service=svc}.
func handshakeFailures(t *testing.T, reg *prometheus.Registry, svc string) float64 {
	t.Helper()
	return netsvctest.Value(t, reg, "gatehouse_handshake_failures_total", map[string]string{"service": svc})
}

// waitHandshakeFailures waits (at most 5 s) until the counter reaches want:
// the server counts a failure after the client already saw it fail. It
// returns the value then, which the caller checks for overshoot.
func waitHandshakeFailures(t *testing.T, reg *prometheus.Registry, svc string, want float64) float64 {
	t.Helper()
	netsvctest.Eventually(t, fmt.Sprintf("%s handshake failures >= %v", svc, want), 5*time.Second,
		func() bool { return handshakeFailures(t, reg, svc) >= want })
	return handshakeFailures(t, reg, svc)
}

// curveRequests are answered the same on both ports.
var curveRequests = []string{
	`{"command_type": "compute", "expression": "(6 + 4) * 8"}`,
	`{"command_type": "compute", "expression": "2**100 / 3"}`,
	`{"command_type": "os", "command_name": "echo", "parameters": ["Hello, World!"]}`,
	`{"command_type": "compute", "expression": "invalid_expression"}`,
	`not json`,
}

func nullReplies(t *testing.T, addr string) []string {
	t.Helper()
	c := dial(t, addr)
	var out []string
	for _, r := range curveRequests {
		rep, err := c.RoundTrip(context.Background(), []byte(r))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, hex.EncodeToString(rep))
	}
	return out
}

func runCurvePeer(t *testing.T, stdin string, args ...string) []string {
	t.Helper()
	return runCurvePeerWait(t, 3*time.Second, stdin, args...)
}

// runCurvePeerWait is runCurvePeer with the client's wait for a reply set
// to wait: a refused handshake is reported by libzmq's monitor at once, so
// the refusal cases need not wait the full 3 s for a reply that never comes.
func runCurvePeerWait(t *testing.T, wait time.Duration, stdin string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, append([]string{"testdata/pyzmq_curve.py"}, args...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PYZMQ_RCVTIMEO_MS=%d", wait.Milliseconds()))
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyzmq %v: %v\n%s", args, err, stderr.String())
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// TestCurvePyZMQClient: a real libzmq REQ socket with CURVE keys gets on
// the CURVE port exactly the replies the NULL port gives; an unauthorized
// key and a wrong server key get nothing, and the refusal is counted.
func TestCurvePyZMQClient(t *testing.T) {
	t.Parallel()
	needPyZMQ(t)
	cs := newCurveSetup(t)
	nullAddr, curveAddr, reg := startBoth(t, DefaultConfig(), cs)
	want := nullReplies(t, nullAddr)
	var in strings.Builder
	for _, r := range curveRequests {
		in.WriteString(hex.EncodeToString([]byte(r)) + "\n")
	}
	serverPub := zmtp.KeyText(cs.server.Public)
	got := runCurvePeer(t, in.String(), "client", "tcp://"+curveAddr, serverPub, cs.alice)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("CURVE replies differ from NULL:\n got %v\nwant %v", got, want)
	}
	// libzmq heartbeats: PINGs inside MESSAGE boxes get encrypted PONGs
	// whose nonces share the counter with the replies.
	got = runCurvePeer(t, in.String(), "client", "tcp://"+curveAddr, serverPub, cs.alice, "heartbeat")
	if got[len(got)-1] != "handshakes 1" {
		t.Fatalf("heartbeats: the connection was not kept (%q)", got[len(got)-1])
	}
	got = got[:len(got)-1]
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("CURVE replies with heartbeats:\n got %v\nwant %v", got, want)
	}
	if n := handshakeFailures(t, reg, "zmqcmd-curve"); n != 0 {
		t.Fatalf("%v handshake failures after a good session", n)
	}

	one := hex.EncodeToString([]byte(curveRequests[0])) + "\n"
	got = runCurvePeerWait(t, time.Second, one, "client", "tcp://"+curveAddr, serverPub, cs.mallory)
	if len(got) != 1 || !strings.HasPrefix(got[0], "TIMEOUT") || !strings.Contains(got[0], "auth-failed-400") {
		t.Fatalf("unauthorized key: %q", got)
	}
	if n := waitHandshakeFailures(t, reg, "zmqcmd-curve", 1); n < 1 {
		t.Fatal("unauthorized handshake not counted")
	}

	// A key pair made by libzmq (zmq.curve_keypair(), as an operator would
	// for 'add-client -pub'): our Z85 and X25519 agree with libzmq's, and
	// the key works once authorized.
	out, err := exec.Command(debianPython, "-c", "import zmq; print(*(k.decode() for k in zmq.curve_keypair()))").Output()
	if err != nil {
		t.Fatal(err)
	}
	pair := strings.Fields(string(out))
	if len(pair) != 2 {
		t.Fatalf("curve_keypair printed %q", out)
	}
	pyPub, err1 := zmtp.ParseKey(pair[0])
	pySec, err2 := zmtp.ParseKey(pair[1])
	if err1 != nil || err2 != nil || zmtp.CurvePublicKey(pySec) != pyPub || zmtp.KeyText(pyPub) != pair[0] {
		t.Fatalf("libzmq key pair %q: %v %v", pair, err1, err2)
	}
	if _, err := AuthorizeKey(filepath.Join(cs.dir, AuthorizedFile), pyPub, "from pyzmq"); err != nil {
		t.Fatal(err)
	}
	pyCert := filepath.Join(cs.dir, "py.key_secret")
	writeCert(t, pyCert, Cert{Public: pyPub, Secret: pySec, HasSecret: true})
	got = runCurvePeer(t, one, "client", "tcp://"+curveAddr, serverPub, pyCert)
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("pyzmq-made key: %q", got)
	}

	wrong := newCert(t)
	got = runCurvePeerWait(t, time.Second, one, "client", "tcp://"+curveAddr, zmtp.KeyText(wrong.Public), cs.alice)
	if len(got) != 1 || !strings.HasPrefix(got[0], "TIMEOUT") || strings.Contains(got[0], "handshake-ok") {
		t.Fatalf("wrong server key: %q", got)
	}
}

// TestCurveGoClient: our client against our CURVE port, revocation taking
// effect on the next connection, and a NULL client refused by the CURVE
// port.
func TestCurveGoClient(t *testing.T) {
	t.Parallel()
	cs := newCurveSetup(t)
	nullAddr, curveAddr, reg := startBoth(t, DefaultConfig(), cs)
	ctx := context.Background()
	alice := cs.cert(t, cs.alice)
	c, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, alice)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := nullReplies(t, nullAddr)
	for i, r := range curveRequests {
		rep, err := c.RoundTrip(ctx, []byte(r))
		if err != nil || hex.EncodeToString(rep) != want[i] {
			t.Fatalf("%s: %q %v", r, rep, err)
		}
	}
	if _, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, cs.cert(t, cs.mallory)); !errors.Is(err, zmtp.ErrUnauthorized) {
		t.Fatalf("mallory: %v", err)
	}
	if _, err := DialCurve(ctx, curveAddr, 5*time.Second, newCert(t).Public, alice); err == nil {
		t.Fatal("wrong server key accepted")
	}
	if _, err := Dial(ctx, curveAddr, 5*time.Second); err == nil {
		t.Fatal("NULL client accepted on the CURVE port")
	}
	// The server counts a failure after the client already saw it: wait
	// for the counter (bounded).
	if n := waitHandshakeFailures(t, reg, "zmqcmd-curve", 3); n != 3 {
		t.Fatalf("handshake failures %v, want 3", n)
	}
	// Revoke alice: the list is re-read, her next connection is refused.
	cs.authorize(t, cs.cert(t, cs.mallory))
	if _, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, alice); !errors.Is(err, zmtp.ErrUnauthorized) {
		t.Fatalf("revoked alice: %v", err)
	}
	if _, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, cs.cert(t, cs.mallory)); err != nil {
		t.Fatalf("newly authorized mallory: %v", err)
	}
}

// TestCurveOSRequiresCurve: with os_requires_curve, os commands answer an
// error on the NULL port and run on the CURVE port; compute is open on
// both.
func TestCurveOSRequiresCurve(t *testing.T) {
	t.Parallel()
	cs := newCurveSetup(t)
	cfg := DefaultConfig()
	cfg.OSRequiresCurve = true
	nullAddr, curveAddr, _ := startBoth(t, cfg, cs)
	ctx := context.Background()
	n := dial(t, nullAddr)
	r, err := n.OS(ctx, "echo", []string{"hi"})
	if err != nil || r.Err() == nil || r.Message != msgOSNeedsCurve {
		t.Fatalf("os on NULL port: %+v %v", r, err)
	}
	if r, err := n.Compute(ctx, "1+1"); err != nil || string(r.Result) != "2" {
		t.Fatalf("compute on NULL port: %+v %v", r, err)
	}
	c, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, cs.cert(t, cs.alice))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err = c.OS(ctx, "echo", []string{"hi"})
	if out, _ := r.ResultString(); err != nil || out != "hi\n" {
		t.Fatalf("os on CURVE port: %+v %v", r, err)
	}
}

// TestCurvePyZMQServer: our client against a real libzmq CURVE REP
// server, which checks our HELLO, vouch and boxes.
func TestCurvePyZMQServer(t *testing.T) {
	t.Parallel()
	needPyZMQ(t)
	cs := newCurveSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, "testdata/pyzmq_curve.py", "server", "tcp://127.0.0.1:*",
		filepath.Join(cs.dir, ServerSecretFile), "2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	ep, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		cmd.Wait()
		t.Fatalf("pyzmq server: %q %v %s", line, err, stderr.String())
	}
	c, err := DialCurve(ctx, ep, 5*time.Second, cs.server.Public, cs.cert(t, cs.alice))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 2; i++ {
		r, err := c.Compute(ctx, "1+1")
		if s, _ := r.ResultString(); err != nil || s != "pyzmq" {
			t.Fatalf("reply %+v %v", r, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pyzmq server: %v %s", err, stderr.String())
	}
}

func TestCertFiles(t *testing.T) {
	t.Parallel()
	c := newCert(t)
	got, err := ParseCert(MarshalCert(c, true, "alice"))
	if err != nil || got != c {
		t.Fatalf("secret cert: %+v %v", got, err)
	}
	got, err = ParseCert(MarshalCert(c, false, ""))
	if err != nil || got.Public != c.Public || got.HasSecret {
		t.Fatalf("public cert: %+v %v", got, err)
	}
	if strings.Contains(string(MarshalCert(c, false, "")), "secret-key") {
		t.Fatal("public cert holds the secret key")
	}
	other := newCert(t)
	mixed := "public-key = \"" + zmtp.KeyText(other.Public) + "\"\nsecret-key = \"" + zmtp.KeyText(c.Secret) + "\"\n"
	if _, err := ParseCert([]byte(mixed)); err == nil {
		t.Fatal("mismatched pair accepted")
	}
	if _, err := ParseCert([]byte("# nothing\n")); err == nil {
		t.Fatal("empty cert accepted")
	}
	keys, bad := ParseAuthorized([]byte("# alice\n" + AuthorizedLine(c.Public) + "\n\n  \"" + AuthorizedLine(other.Public) + "\"  \nnot a key\n"))
	if len(keys) != 2 || keys[0].Comment != "alice" || keys[1].Key != other.Public || len(bad) != 1 || !strings.Contains(bad[0], "line 5") {
		t.Fatalf("authorized: %+v %v", keys, bad)
	}
}

// FuzzKeyFiles: the certificate and authorized-list parsers never panic
// and only return well-formed keys.
func FuzzKeyFiles(f *testing.F) {
	c := newCert(f)
	f.Add(MarshalCert(c, true, "x"))
	f.Add(MarshalCert(c, false, ""))
	f.Add([]byte("# a\n" + AuthorizedLine(c.Public) + "\nYne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if cert, err := ParseCert(b); err == nil && cert.HasSecret && zmtp.CurvePublicKey(cert.Secret) != cert.Public {
			t.Fatal("pair mismatch")
		}
		keys, _ := ParseAuthorized(b)
		for _, k := range keys {
			if k.Line <= 0 {
				t.Fatal("line")
			}
		}
	})
}
