package rtspserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// maxDatagram is the largest RTP packet sent to a UDP reader: a 1500-byte
// MTU less the IPv4 and UDP headers. gortsplib-based players read no more,
// and a bigger datagram would be cut into IP fragments. H.264 and H.265 are
// cut to rtsp.pkt_size in the core; a bigger packet of another codec is
// skipped and counted.
const maxDatagram = 1472

// udpSocket is a UDP socket of the server as gortsplib gets it: gortsplib
// reads from it (clients' RTCP receiver reports, UDP publishers' media)
// and writes a little (publishers' receiver reports); our writers send
// readers' media on it. gortsplib sets a write deadline before each of its
// writes, which would also fail our writes once it passed, so deadlines are
// not set: a UDP send does not wait for the peer.
type udpSocket struct {
	*net.UDPConn
}

func (udpSocket) SetWriteDeadline(time.Time) error { return nil }
func (udpSocket) SetDeadline(time.Time) error      { return nil }

// batchSender sends several datagrams with one system call (sendmmsg on
// Linux): *ipv4.PacketConn and *ipv6.PacketConn.
type batchSender interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchSender(c *net.UDPConn) batchSender {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		return ipv4.NewPacketConn(c)
	}
	// an IPv6 socket, or both families (":8000"); IPv4 destinations get an
	// IPv4 socket address, which Linux takes on a dual-stack socket
	return ipv6.NewPacketConn(c)
}

// udpOut is where UDP readers' media goes: the server's RTP and RTCP
// sockets.
type udpOut interface {
	// sendRTP sends the messages in order with as few system calls as it
	// can; it returns how many went out before an error.
	sendRTP(ms []ipv4.Message) (int, error)
	sendRTCP(b []byte, to *net.UDPAddr) error
}

// udpPlane is the server's udpOut.
type udpPlane struct {
	rtp  batchSender
	rtcp *net.UDPConn
}

func (u *udpPlane) sendRTP(ms []ipv4.Message) (int, error) { return u.rtp.WriteBatch(ms, 0) }

func (u *udpPlane) sendRTCP(b []byte, to *net.UDPAddr) error {
	_, err := u.rtcp.WriteToUDP(b, to)
	return err
}

// udpDest is where one track of a UDP reader goes: the client's ports from
// its SETUP, on the address it set up from.
type udpDest struct {
	rtp, rtcp *net.UDPAddr
}

// dropNote counts packets a UDP reader did not get, and logs them at most
// once per stream.DropLogEvery and reason with how many since the last line.
type dropNote struct {
	st    *stream.Stream
	log   *slog.Logger
	lines map[string]*stream.LogThrottle
}

func newDropNote(st *stream.Stream, log *slog.Logger) *dropNote {
	return &dropNote{st: st, log: log, lines: map[string]*stream.LogThrottle{}}
}

func (d *dropNote) count(reason string, n int, err error, now time.Time) {
	if n == 0 {
		return
	}
	d.st.CountDrops(reason, uint64(n))
	line := d.lines[reason]
	if line == nil {
		line = new(stream.LogThrottle)
		d.lines[reason] = line
	}
	count, ok := line.Note(uint64(n), now)
	if !ok {
		return
	}
	args := []any{"reason", reason, "count", count}
	if err != nil {
		args = append(args, "err", err)
	}
	d.log.Warn("packets not sent to a UDP reader", args...)
}

// writeUDP is the UDP fan-out path, writeTCP's twin: every packet that
// arrived since the last wake goes out as one datagram (the shared,
// marshalled Data) to the client's RTP port of its track, all of them with
// one sendmmsg. An RTCP sender report per track goes first to the client's
// RTCP port, then every 5 s. A datagram the socket refuses is counted and
// skipped: UDP has no connection to lose. No allocation per packet.
func writeUDP(ctx context.Context, r *stream.Reader, out udpOut, dst []udpDest, sent *sentCounts, drops *dropNote) error {
	var (
		pkts    = make([]*stream.Packet, 0, 64)
		msgs    = make([]ipv4.Message, 0, 64)
		bufs    = make([][]byte, 0, 64) // msgs[i].Buffers is bufs[i:i+1]
		reports = newSenderReports(len(dst))
		err     error
	)
	for {
		if pkts, err = nextBatch(ctx, r, pkts); err != nil {
			return err
		}
		now := time.Now()
		for pos := range dst {
			if sr := reports.due(r, pkts, pos, now); sr != nil {
				if err := out.sendRTCP(sr, dst[pos].rtcp); err != nil {
					if errors.Is(err, net.ErrClosed) {
						return err
					}
					drops.count(stream.DropUDPWrite, 1, err, now)
				}
			}
		}
		msgs, bufs = msgs[:0], bufs[:0]
		tooBig, bytes := 0, 0
		for _, p := range pkts {
			if len(p.Data) > maxDatagram {
				tooBig++
				continue
			}
			pos := r.Position(p.Track)
			reports.count(pos, p)
			bytes += len(p.Data)
			bufs = append(bufs, p.Data)
			msgs = append(msgs, ipv4.Message{Addr: dst[pos].rtp})
		}
		for i := range msgs {
			msgs[i].Buffers = bufs[i : i+1 : i+1]
		}
		failed := 0
		var werr error
		for off := 0; off < len(msgs); {
			n, err := out.sendRTP(msgs[off:])
			off += n
			if err == nil {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if off >= len(msgs) {
				break
			}
			// the one refused: skip it, send the rest
			bytes -= len(bufs[off])
			off++
			failed++
			werr = err
		}
		sent.bytes.Add(uint64(bytes))
		sent.packets.Add(uint64(len(msgs) - failed))
		drops.count(stream.DropTooBigUDP, tooBig, nil, now)
		drops.count(stream.DropUDPWrite, failed, werr, now)
		clear(pkts)
		clear(bufs)
		for i := range msgs {
			msgs[i] = ipv4.Message{}
		}
	}
}
