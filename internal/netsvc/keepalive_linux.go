package netsvc

import (
	"net"
	"syscall"
)

// On Linux an accepted socket inherits SO_KEEPALIVE and the TCP
// keepalive times from its listening socket, so they are set once on the
// listener instead of with four setsockopt calls per accepted connection
// (≈ 7 µs of a connect-per-request handshake's CPU, e2eeftp LIST;
// TestAcceptedConnsHaveKeepAlive reads them back from an accepted
// connection). KeepAlive -1 stops Go from setting them again per
// connection.
var listenConfig = net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		set := func(level, opt, v int) {
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), level, opt, v)
			}
		}
		set(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAliveConfig.Idle.Seconds()))
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAliveConfig.Interval.Seconds()))
		set(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveConfig.Count)
	})
	if err != nil {
		return err
	}
	return serr
}}
