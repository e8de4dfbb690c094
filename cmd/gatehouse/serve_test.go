package main

import (
	"bufio"
	"bytes"
	"gatehouse/internal/services"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-race", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building gatehouse: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startServe runs `gatehouse serve` with every built-in service on a free
// loopback port and returns the process, the services' addresses from the
// log, the admin address and the log so far.
func startServe(t *testing.T, extra ...string) (*exec.Cmd, map[string]string, string, *syncBuffer) {
	t.Helper()
	args := append([]string{"serve", "-data", t.TempDir(), "-set", "admin.listen=127.0.0.1:0", "-set", "drain_timeout=5s"}, serviceFlags()...)
	want := 0
	for _, n := range services.Names() {
		if _, ok := services.Lookup(n); ok {
			want++
		}
	}
	args = append(args, extra...)
	cmd := exec.Command(binPath, args...)
	logs := &syncBuffer{}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addrs := map[string]string{}
	admin := ""
	svcRe := regexp.MustCompile(`msg="service listening" service=(\S+) addr=(\S+)`)
	adminRe := regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		logs.WriteString(line + "\n")
		if m := svcRe.FindStringSubmatch(line); m != nil {
			addrs[m[1]] = m[2]
		}
		if m := adminRe.FindStringSubmatch(line); m != nil {
			admin = m[1]
		}
		if strings.Contains(line, "gatehouse running") {
			break
		}
	}
	if len(addrs) != want || admin == "" {
		t.Fatalf("daemon did not start all %d services: %v\n%s", want, addrs, logs.String())
	}
	go func() {
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
		}
	}()
	return cmd, addrs, admin, logs
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

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeStartsEveryServiceAndExitsCleanlyOnSIGTERM(t *testing.T) {
	cmd, addrs, admin, logs := startServe(t)
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
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit within the drain timeout\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Fatalf("no shutdown log line:\n%s", logs.String())
	}
}

func TestServeBusyPortFailsNamingServiceAndPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(binPath, append([]string{"serve", "-data", t.TempDir(), "-set", "admin.listen=" + ln.Addr().String()}, serviceFlags()...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("serve started on a busy port")
	}
	if !strings.Contains(string(out), "admin") || !strings.Contains(string(out), ln.Addr().String()) {
		t.Fatalf("message does not name the listener and port:\n%s", out)
	}
}

func TestUsageAndUnknownConfigKey(t *testing.T) {
	out, err := exec.Command(binPath).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "serve") {
		t.Fatalf("no-args: %v\n%s", err, out)
	}
	out, err = exec.Command(binPath, "serve", "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "examples:") || !strings.Contains(string(out), "-config") {
		t.Fatalf("serve -h: %v\n%s", err, out)
	}
	cfgFile := filepath.Join(t.TempDir(), "g.toml")
	os.WriteFile(cfgFile, []byte("[services.clock]\nmax_con = 3\n"), 0o600)
	out, err = exec.Command(binPath, "serve", "-config", cfgFile, "-check-config").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "services.clock.max_con") {
		t.Fatalf("unknown key not reported: %v\n%s", err, out)
	}
	out, err = exec.Command(binPath, "serve", "-set", "services.clock.max_conns=77", "-check-config").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "max_conns = 77") {
		t.Fatalf("-set not applied: %v\n%s", err, out)
	}
}
