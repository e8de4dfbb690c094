//go:build !linux

package netsvc

import "net"

// Elsewhere Go sets keepalive on each accepted connection.
var listenConfig = net.ListenConfig{KeepAliveConfig: keepAliveConfig}
