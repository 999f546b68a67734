package config

import (
	"net"
	"strings"
)

// BeyondLoopback reports whether a server listening on addr (host:port, as
// rtsp.listen) can be reached from other machines: true for all interfaces
// (":8554", "0.0.0.0:8554", "[::]:8554"), an address that is not loopback,
// and a host name other than localhost (it is not looked up); false for
// 127.0.0.0/8, ::1 and localhost. An address that cannot be read counts as
// reachable.
func BeyondLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // fe80::1%eth0
	if ip := net.ParseIP(host); ip != nil {
		return !ip.IsLoopback()
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host != "localhost" && !strings.HasSuffix(host, ".localhost")
}
