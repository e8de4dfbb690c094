package netsvctest

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// KeepAlive is the TCP keepalive state of a socket as the kernel has it.
type KeepAlive struct {
	On       bool
	Idle     time.Duration // TCP_KEEPIDLE
	Interval time.Duration // TCP_KEEPINTVL
	Count    int           // TCP_KEEPCNT
}

// KeepAliveOf reads the keepalive socket options of nc, a TCP connection
// (or a type embedding one, such as *netsvc.Conn's net.Conn).
func KeepAliveOf(nc net.Conn) (KeepAlive, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return KeepAlive{}, errors.New("netsvctest: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return KeepAlive{}, err
	}
	var ka KeepAlive
	var serr error
	err = raw.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := syscall.GetsockoptInt(int(fd), level, opt)
			if err != nil && serr == nil {
				serr = err
			}
			return v
		}
		ka.On = get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0
		ka.Idle = time.Duration(get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)) * time.Second
		ka.Interval = time.Duration(get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)) * time.Second
		ka.Count = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
	})
	if err == nil {
		err = serr
	}
	return ka, err
}
