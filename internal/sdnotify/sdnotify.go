// Package sdnotify tells systemd (or any supervisor speaking its protocol)
// about the daemon's state through $NOTIFY_SOCKET: READY=1 once every
// listener accepts, RELOADING=1 while a SIGHUP reload runs, STOPPING=1 when
// the drain begins. Without NOTIFY_SOCKET every call is a no-op, so the
// daemon behaves the same under any other supervisor.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// EnvSocket is the variable systemd sets for Type=notify services.
const EnvSocket = "NOTIFY_SOCKET"

// Notify sends state (newline-separated KEY=VALUE lines) to the socket
// named by NOTIFY_SOCKET. It reports whether a message was sent; no
// socket is not an error.
func Notify(state string) (bool, error) {
	path := os.Getenv(EnvSocket)
	if path == "" {
		return false, nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return false, fmt.Errorf("sdnotify: %s=%q is not a unix socket path", EnvSocket, path)
	}
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	if path[0] == '@' {
		addr.Name = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sdnotify: %w", err)
	}
	return true, nil
}

// Ready is READY=1 with a status line.
func Ready(status string) (bool, error) { return Notify("READY=1\nSTATUS=" + status) }

// Reloading is RELOADING=1 with the monotonic timestamp systemd's
// Type=notify-reload requires.
func Reloading() (bool, error) {
	return Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
}

// Stopping is STOPPING=1.
func Stopping() (bool, error) { return Notify("STOPPING=1") }

func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return time.Now().UnixMicro()
	}
	return ts.Sec*1e6 + ts.Nsec/1e3
}
