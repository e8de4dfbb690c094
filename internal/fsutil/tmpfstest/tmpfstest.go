// Package tmpfstest gives tests a small real file system they can fill:
// a tmpfs mounted on a temporary folder (the process must be root, as on
// the project's machines and CI), so "disk full" is the kernel's ENOSPC,
// not a fake.
package tmpfstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of sizeKiB on a fresh temporary folder and returns
// it; it is unmounted when t ends. Where mounting is impossible the test
// is skipped, except under CI=true, where it fails.
func Mount(t testing.TB, sizeKiB int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dk", sizeKiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (%v); disk-full tests need root", err)
	}
	// Registered after TempDir's cleanup, so it runs first.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file in dir until the file system is full (ENOSPC) and
// returns its path. The loop is bounded: at most 64 Ki writes of 4 KiB
// (256 MiB), far more than any tmpfs a test mounts.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return p
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
	t.Fatalf("%s never filled up", dir)
	return p
}
