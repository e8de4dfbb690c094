package main

import (
	"bytes"
	"gatehouse/internal/services"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// served is a `gatehouse serve` running in process: its signals are sent
// through sig, its log is logs, and done closes when it returned code.
type served struct {
	sig  *sigHub
	logs *syncBuffer
	done chan struct{}
	code int
}

// wait returns serve's exit code, failing the test after d.
func (s *served) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(d):
		t.Fatalf("serve did not exit within %v\n%s", d, s.logs.String())
	}
	return 0
}

func (s *served) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// serveInProcess runs `gatehouse serve ARGS` in process and returns once it
// logged that it runs; the test's cleanup stops it.
func serveInProcess(t *testing.T, args ...string) *served {
	t.Helper()
	s := &served{logs: &syncBuffer{}, done: make(chan struct{})}
	var e *env
	e, s.sig = testEnv(nil, io.Discard, s.logs)
	go func() {
		s.code = run(append([]string{"serve"}, args...), e)
		close(s.done)
		s.logs.Write(nil) // wakes a wait for the start-up line
	}()
	t.Cleanup(func() {
		s.sig.send(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Errorf("serve did not stop at the end of the test")
		}
	})
	s.logs.wait(t, 20*time.Second, "gatehouse running", func(text string) bool {
		return s.exited() || strings.Contains(text, "gatehouse running")
	})
	if s.exited() {
		t.Fatalf("serve exited with %d before running:\n%s", s.code, s.logs.String())
	}
	return s
}

// startServe runs `gatehouse serve` in process with every built-in service
// on a free loopback port and returns it, the services' addresses from the
// log, the admin address and the log.
func startServe(t *testing.T, extra ...string) (*served, map[string]string, string, *syncBuffer) {
	t.Helper()
	args := append([]string{"-data", t.TempDir(), "-set", "admin.listen=127.0.0.1:0", "-set", "drain_timeout=5s"}, serviceFlags()...)
	want := 0
	for _, n := range services.Names() {
		if _, ok := services.Lookup(n); ok {
			want++
		}
	}
	s := serveInProcess(t, append(args, extra...)...)
	addrs := map[string]string{}
	admin := ""
	svcRe := regexp.MustCompile(`msg="service listening" service=(\S+) addr=(\S+)`)
	adminRe := regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if m := svcRe.FindStringSubmatch(line); m != nil {
			addrs[m[1]] = m[2]
		}
		if m := adminRe.FindStringSubmatch(line); m != nil {
			admin = m[1]
		}
	}
	if len(addrs) != want || admin == "" {
		t.Fatalf("daemon did not start all %d services: %v\n%s", want, addrs, s.logs.String())
	}
	return s, addrs, admin, s.logs
}

// serviceFlags puts every built-in service on a free loopback port and
// disables any service this binary lacks.
func serviceFlags() []string {
	var args []string
	for _, n := range services.Names() {
		if _, ok := services.Lookup(n); ok {
			args = append(args, "-set", "services."+n+".listen=127.0.0.1:0")
		} else {
			args = append(args, "-set", "services."+n+".enabled=false")
		}
	}
	return args
}

func TestServeStartsEveryServiceAndExitsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	srv, addrs, admin, logs := startServe(t)
	for name, addr := range addrs {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("%s not accepting on %s: %v", name, addr, err)
		}
		c.Close()
	}
	resp, err := http.Get("http://" + admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d: %s", resp.StatusCode, body)
	}
	for name := range addrs {
		if !strings.Contains(string(body), name+" ok") {
			t.Fatalf("healthz does not report %s: %s", name, body)
		}
	}
	if !srv.sig.send(syscall.SIGTERM) {
		t.Fatal("serve does not listen for SIGTERM")
	}
	if code := srv.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("serve exited with %d\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no shutdown log line:\n%s", logs.String())
	}
}

func TestServeBusyPortFailsNamingServiceAndPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stdout, stderr := runCode(t, append([]string{"serve", "-data", t.TempDir(), "-set", "admin.listen=" + ln.Addr().String()}, serviceFlags()...)...)
	out := stdout + stderr
	if code == 0 {
		t.Fatal("serve started on a busy port")
	}
	if !strings.Contains(string(out), "admin") || !strings.Contains(string(out), ln.Addr().String()) {
		t.Fatalf("message does not name the listener and port:\n%s", out)
	}
}

func TestUsageAndUnknownConfigKey(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCode(t)
	out := stdout + stderr
	if code != 2 || !strings.Contains(string(out), "serve") {
		t.Fatalf("no-args: exit %d\n%s", code, out)
	}
	code, stdout, stderr = runCode(t, "serve", "-h")
	out = stdout + stderr
	if code != 0 || !strings.Contains(string(out), "examples:") || !strings.Contains(string(out), "-config") {
		t.Fatalf("serve -h: exit %d\n%s", code, out)
	}
	cfgFile := filepath.Join(t.TempDir(), "g.toml")
	os.WriteFile(cfgFile, []byte("[services.clock]\nmax_con = 3\n"), 0o600)
	code, stdout, stderr = runCode(t, "serve", "-config", cfgFile, "-check-config")
	out = stdout + stderr
	if code == 0 || !strings.Contains(string(out), "services.clock.max_con") {
		t.Fatalf("unknown key not reported: exit %d\n%s", code, out)
	}
	code, stdout, stderr = runCode(t, "serve", "-set", "services.clock.max_conns=77", "-check-config")
	out = stdout + stderr
	if code != 0 || !strings.Contains(string(out), "max_conns = 77") {
		t.Fatalf("-set not applied: exit %d\n%s", code, out)
	}
}

// The configuration is read from the command's environment, not the
// process's: GATEHOUSE_CONFIG names the file and GATEHOUSE_* keys override
// it, while a variable set only in the test process is ignored.
func TestServeReadsConfigFromItsEnvironment(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "g.toml")
	if err := os.WriteFile(cfgFile, []byte("[services.clock]\nmax_conns = 5\n[log]\nlevel = \"warn\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_SERVICES_CLOCK_IDLE_TIMEOUT", "1234s")
	var out, errb bytes.Buffer
	e := bufEnv(&out, &errb)
	setEnviron(e, "GATEHOUSE_CONFIG="+cfgFile, "GATEHOUSE_LOG_LEVEL=debug")
	if code := run([]string{"serve", "-check-config"}, e); code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "max_conns = 5") || !strings.Contains(out.String(), `level = "debug"`) {
		t.Fatalf("file or environment not applied:\n%s", out.String())
	}
	if strings.Contains(out.String(), "1234s") || strings.Contains(out.String(), "20m34s") {
		t.Fatalf("the process environment leaked into the command's:\n%s", out.String())
	}
}
