package testpeer

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; prefer letting the server
// bind port 0 where it can (StartCamera does).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testpeer: find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testpeer: find a free port: %v", err)
	}
	return port
}

// FreeUDPPair returns an even UDP port P on 127.0.0.1 with P and P+1 free a
// moment ago: an RTP/RTCP pair for a server's rtp_address and rtcp_address.
func FreeUDPPair(t testing.TB) int {
	t.Helper()
	a, b := bindUDPPair(t)
	a.Close()
	b.Close()
	return a.LocalAddr().(*net.UDPAddr).Port
}

// OnFreeUDPPair calls start with free pairs (FreeUDPPair's) until one is
// still free when start binds it: another test may take a pair found a
// moment before. start says whether it found its pair taken.
func OnFreeUDPPair(t testing.TB, start func(rtp int) (taken bool)) {
	t.Helper()
	for range 6 {
		if !start(FreeUDPPair(t)) {
			return
		}
	}
	t.Fatal("testpeer: six free UDP port pairs in a row were taken before they could be bound")
}

// ListenUDPPair binds an RTP/RTCP pair of UDP sockets on 127.0.0.1 (an even
// port and the next), as a UDP reader does before its SETUP; they are
// closed when the test ends.
func ListenUDPPair(t testing.TB) (rtp, rtcp *net.UDPConn) {
	t.Helper()
	a, b := bindUDPPair(t)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// bindUDPPair binds an even port on 127.0.0.1 and the next.
func bindUDPPair(t testing.TB) (a, b *net.UDPConn) {
	t.Helper()
	for range 100 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("testpeer: listen UDP: %v", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p >= 65000 {
			a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		if err != nil {
			a.Close()
			continue
		}
		return a, b
	}
	t.Fatal("testpeer: no free UDP port pair")
	return nil, nil
}
