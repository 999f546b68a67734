package loadtest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
)

// Transports of the readers.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

const (
	// udpReadBuffer is asked for every RTP socket: a 1080p keyframe is a
	// burst of a few hundred datagrams, more than the default buffer holds
	// while the reader's goroutine waits for a core. The kernel caps it at
	// net.core.rmem_max.
	udpReadBuffer = 1 << 20
	// udpPairTries bounds the search for an even port whose successor is free.
	udpPairTries = 64
	// fdMargin is left to the tool's other files (the publisher, /proc, logs).
	fdMargin = 64
)

// udpMedia is one media a UDP reader set up: its RTP and RTCP sockets. The
// RTCP socket is held (so that the port stays ours) and never read: the
// server's sender reports are not needed and the kernel drops them once its
// buffer is full.
type udpMedia struct {
	rtp, rtcp *net.UDPConn
	ch        readerChannel
}

func (m *udpMedia) close() {
	m.rtp.Close()
	m.rtcp.Close()
}

// listenUDPPair binds an even port on 127.0.0.1 for RTP and the next one for
// RTCP, as RTP/AVP over UDP expects.
func listenUDPPair() (rtp, rtcp *net.UDPConn, err error) {
	for range udpPairTries {
		rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, nil, err
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port >= 65535 {
			rtp.Close()
			continue
		}
		rtcp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			rtp.Close()
			continue
		}
		rtp.SetReadBuffer(udpReadBuffer) //nolint:errcheck // the default buffer still works, with losses seen as gaps
		return rtp, rtcp, nil
	}
	return nil, nil, fmt.Errorf("no free even/odd UDP port pair on 127.0.0.1 after %d tries", udpPairTries)
}

// setupUDP binds a port pair for the next media and returns its SETUP
// Transport header.
func (r *rawReader) setupUDP() (*udpMedia, string, error) {
	rtp, rtcp, err := listenUDPPair()
	if err != nil {
		return nil, "", fmt.Errorf("SETUP: %w", err)
	}
	m := &udpMedia{rtp: rtp, rtcp: rtcp}
	r.udp = append(r.udp, m)
	port := rtp.LocalAddr().(*net.UDPAddr).Port
	return m, fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d", port, port+1), nil
}

// checkUDPTransport refuses a SETUP answer that is not RTP over UDP (a
// server that only does TCP may answer with interleaved channels).
func checkUDPTransport(transport string) error {
	t := strings.ToLower(transport)
	if strings.Contains(t, "rtp/avp/tcp") || strings.Contains(t, "interleaved=") {
		return fmt.Errorf("SETUP: server answered Transport %q to a UDP request", transport)
	}
	return nil
}

// readUDP reads the RTP sockets, one goroutine each, and the RTSP connection
// (keepalive answers, and its loss) until ctx ends or one of them fails. The
// first error is returned. Only the video media's goroutine touches r's
// frame accounting; the others count into their own results, merged here.
func (r *rawReader) readUDP(ctx context.Context) error {
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			r.conn.Close()
			for _, m := range r.udp {
				m.close()
			}
		})
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()

	errc := make(chan error, len(r.udp)+1)
	var wg sync.WaitGroup
	// The RTSP connection is read with its own accounting too: the video
	// goroutine owns r.res.
	tcp := &rawReader{cfg: r.cfg, br: r.br}
	others := make([]*rawReader, 0, len(r.udp)+1)
	others = append(others, tcp)
	wg.Go(func() {
		errc <- tcp.readLoop()
		closeAll()
	})
	for _, m := range r.udp {
		acc := r
		if m.ch.kind != channelRTPVideo {
			acc = &rawReader{cfg: r.cfg}
			others = append(others, acc)
		}
		wg.Go(func() {
			errc <- acc.udpLoop(m)
			closeAll()
		})
	}
	wg.Wait()
	for _, o := range others {
		r.res.packets += o.res.packets
		r.res.bytes += o.res.bytes
		r.res.gaps += o.res.gaps
		r.res.malformed += o.res.malformed
	}
	return <-errc
}

// udpLoop reads one RTP socket until it is closed.
func (r *rawReader) udpLoop(m *udpMedia) error {
	buf := make([]byte, 65536)
	for {
		n, err := m.rtp.Read(buf)
		if err != nil {
			return err
		}
		r.res.packets++
		r.res.bytes += int64(n)
		r.handleRTP(&m.ch, buf[:n])
	}
}

// udpFileNeed estimates the file descriptors of that many UDP readers with
// medias medias each: the RTSP connection and an RTP and an RTCP
// socket per media, plus a margin for the rest of the tool.
func udpFileNeed(readers, medias int) int {
	return readers*(1+2*medias) + fdMargin
}

// checkFileLimit fails when need descriptors exceed the process's limit (Go
// raised the soft limit to the hard one at start-up).
func checkFileLimit(readers, medias int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // no limit known: let the sockets fail if they must
	}
	return fileLimitError(readers, medias, lim.Cur)
}

func fileLimitError(readers, medias int, limit uint64) error {
	need := udpFileNeed(readers, medias)
	if uint64(need) <= limit {
		return nil
	}
	return fmt.Errorf(
		"%d UDP readers with %d media(s) need about %d file descriptors (1 TCP + 2 UDP sockets per media each, + %d), the limit is %d: raise it (ulimit -n) or use fewer readers",
		readers, medias, need, fdMargin, limit)
}
