//go:build linux || darwin

package daemon

import "syscall"

// freeBytes is the space an unprivileged writer can still use on the file
// system holding dir (ok false when unknown).
func freeBytes(dir string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
