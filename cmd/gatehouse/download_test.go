package main

import (
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallProxy forwards connections to target and, once more than after
// bytes went from the server to a client, stops forwarding that direction
// and closes stalled: the download is then in flight, deterministically.
func stallProxy(t *testing.T, target string, after int64) (addr string, stalled <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(release); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(s, c); s.Close() }()
			go func() {
				defer wg.Done()
				defer c.Close()
				var n int64
				buf := make([]byte, 32<<10)
				for {
					k, err := s.Read(buf)
					if k > 0 {
						if _, werr := c.Write(buf[:k]); werr != nil {
							return
						}
						if n += int64(k); n > after {
							once.Do(func() { close(ch) })
							<-release
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

// e2eClientSetup starts an e2eeftp-only daemon and returns its address
// and a client folder holding alice's keys and a random 4 MiB big.bin,
// already uploaded.
func e2eClientSetup(t *testing.T) (addr, alice string, payload []byte) {
	t.Helper()
	root := t.TempDir()
	data := filepath.Join(root, "data")
	alice = filepath.Join(root, "alice")
	addr, _ = startE2EServe(t, data)
	if _, errs, ok := runCmd(t, root, "keys", "e2eeftp", "add-client", "--out", alice, "--data", data); !ok {
		t.Fatalf("add-client: %s", errs)
	}
	payload = make([]byte, 4<<20)
	rand.Read(payload)
	if err := os.WriteFile(filepath.Join(alice, "big.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, ok := runCmd(t, alice, "client", "e2eeftp", "send", "big.bin", "--addr", addr, "-q"); !ok {
		t.Fatalf("send: %s %s", out, errs)
	}
	return addr, alice, payload
}

// A download shows its bar on stderr, ending at 100% before the result
// line; a refused request draws no bar.
func TestE2EEFTPGetProgress(t *testing.T) {
	addr, alice, _ := e2eClientSetup(t)
	t.Chdir(alice)
	code, out, errs := runCode(t, "client", "e2eeftp", "get", "big.bin", "--addr", addr)
	if code != 0 || !strings.HasPrefix(out, "200 saved downloaded_big.bin") {
		t.Fatalf("get: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "get big.bin 100.0% 4.0 MiB/4.0 MiB") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("progress line %q", errs)
	}
	code, out, errs = runCode(t, "client", "e2eeftp", "get", "missing.bin", "--addr", addr)
	if code == 0 || strings.Contains(errs, "get missing.bin") || strings.Contains(errs, "%") || !strings.Contains(errs, "404") {
		t.Fatalf("a refused get: exit %d\n%s%s", code, out, errs)
	}
}

// Ctrl-C during a download prints "interrupted", exits 130 and leaves
// neither the output file nor a partial one.
func TestE2EEFTPGetInterrupted(t *testing.T) {
	addr, alice, _ := e2eClientSetup(t)
	proxy, stalled := stallProxy(t, addr, 1<<20)
	t.Chdir(alice)
	var out, errb syncBuffer
	e, sig := testEnv(nil, &out, &errb)
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"client", "e2eeftp", "get", "big.bin", "-o", "copy.bin", "--addr", proxy}, e)
	}()
	select {
	case <-stalled:
	case code := <-done:
		t.Fatalf("get ended (exit %d) before the transfer stalled:\n%s%s", code, out.String(), errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the download never started")
	}
	if !sig.send(os.Interrupt) {
		t.Fatal("get does not listen for SIGINT")
	}
	select {
	case code := <-done:
		if code != 130 || !strings.HasSuffix(errb.String(), "interrupted\n") || out.String() != "" {
			t.Fatalf("exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("get did not stop on SIGINT")
	}
	left, _ := filepath.Glob(filepath.Join(alice, "*"))
	for _, f := range left {
		if b := filepath.Base(f); b != "big.bin" && b != "client_id.key" && b != "known_server.pub" {
			t.Errorf("left behind: %s", b)
		}
	}
	hidden, _ := filepath.Glob(filepath.Join(alice, ".e2eeftp-get-*"))
	if len(hidden) != 0 {
		t.Errorf("partial files left: %v", hidden)
	}
}
