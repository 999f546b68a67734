package rtspserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
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
	// can; it returns how many went out before an error. errSegmentsRefused
	// means the route of the message at that index would not take it
	// segmented: the caller sends its datagrams one by one, and to that
	// destination from then on.
	sendRTP(ms []ipv4.Message) (int, error)
	sendRTCP(b []byte, to *net.UDPAddr) error
	// segments tells whether a message may carry a run of datagrams with
	// a UDP_SEGMENT control message.
	segments() bool
}

var errSegmentsRefused = errors.New("UDP segmentation offload refused")

// udpPlane is the server's udpOut.
type udpPlane struct {
	rtp  batchSender
	rtcp *net.UDPConn
	log  *slog.Logger
	gso  bool        // the kernel knows UDP_SEGMENT
	said atomic.Bool // a refusal was logged
}

func newUDPPlane(rtp, rtcp *net.UDPConn, log *slog.Logger) *udpPlane {
	return &udpPlane{rtp: newBatchSender(rtp), rtcp: rtcp, log: log, gso: gsoProbe(rtp)}
}

func (u *udpPlane) sendRTP(ms []ipv4.Message) (int, error) {
	n, err := u.rtp.WriteBatch(ms, 0)
	n = max(n, 0) // sendmmsg's -1 when the first message failed
	if err != nil && n < len(ms) && ms[n].OOB != nil && gsoRefused(err) {
		if !u.said.Swap(true) {
			u.log.Info("a route refused UDP segmentation offload; its UDP readers get their datagrams one by one",
				"to", ms[n].Addr, "err", err)
		}
		return n, fmt.Errorf("%w: %w", errSegmentsRefused, err)
	}
	return n, err
}

func (u *udpPlane) segments() bool { return u.gso }

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

// Limits of one segmented send: Linux takes at most 64 segments (more on
// newer kernels), and the run must fit one IP datagram.
const (
	maxSegments     = 64
	maxSegmentBytes = 65000
)

// writeUDP is the UDP fan-out path, writeTCP's twin: every packet that
// arrived since the last wake goes out as one datagram (the shared,
// marshalled Data) to the client's RTP port of its track, all of them with
// one sendmmsg, and each run of equal-sized packets to one port (the
// fragments of a frame) as one segmented message when the kernel takes it.
// An RTCP sender report per track goes first to the client's RTCP port,
// then every 5 s. A datagram the socket refuses is counted and skipped: UDP
// has no connection to lose. No allocation per packet.
func writeUDP(ctx context.Context, r *stream.Reader, out udpOut, dst []udpDest, sent *sentCounts, drops *dropNote) error {
	var (
		pkts    = make([]*stream.Packet, 0, 64)
		b       = udpBatch{}
		refused []*net.UDPAddr // destinations that do not take runs
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
		tooBig := 0
		for _, p := range pkts {
			if len(p.Data) > maxDatagram {
				tooBig++
				continue
			}
			pos := r.Position(p.Track)
			reports.count(pos, p)
			b.add(p.Data, dst[pos].rtp)
		}
		// counted before the send: whoever sees the rest sees the count
		drops.count(stream.DropTooBigUDP, tooBig, nil, now)
		b.group(out.segments(), refused)
		failed, bytes := 0, b.bytes
		var werr error
		for off := 0; off < len(b.msgs); {
			n, err := out.sendRTP(b.msgs[off:])
			off += n
			if err == nil {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			if off >= len(b.msgs) {
				break
			}
			if errors.Is(err, errSegmentsRefused) {
				refused = append(refused, b.dests[b.first(off)])
				b.ungroup(off)
				continue
			}
			// the one refused: skip it, send the rest
			for _, d := range b.msgs[off].Buffers {
				bytes -= len(d)
				failed++
			}
			off++
			werr = err
		}
		sent.bytes.Add(uint64(bytes))
		sent.packets.Add(uint64(len(b.bufs) - failed))
		drops.count(stream.DropUDPWrite, failed, werr, now)
		clear(pkts)
		b.reset() // an idle reader holds no packet
	}
}

// udpBatch is one wake's datagrams and the sendmmsg messages that carry
// them, reused from wake to wake.
type udpBatch struct {
	bufs  [][]byte       // the datagrams, in order
	dests []*net.UDPAddr // where each goes
	bytes int
	msgs  []ipv4.Message // each carries bufs[i:j], all to dests[i]
	oobs  [][]byte       // msgs[k]'s control message space
}

func (b *udpBatch) reset() {
	clear(b.bufs)
	clear(b.dests)
	for i := range b.msgs {
		b.msgs[i] = ipv4.Message{}
	}
	b.bufs, b.dests, b.msgs, b.bytes = b.bufs[:0], b.dests[:0], b.msgs[:0], 0
}

func (b *udpBatch) add(d []byte, to *net.UDPAddr) {
	b.bufs = append(b.bufs, d)
	b.dests = append(b.dests, to)
	b.bytes += len(d)
}

// group makes the messages: with segments, a run of datagrams to one
// port, all of the first one's size but the last, which may be shorter,
// is one message the kernel cuts back into those datagrams; else, and for
// the destinations in refused, one message per datagram.
func (b *udpBatch) group(segments bool, refused []*net.UDPAddr) {
	for i := 0; i < len(b.bufs); {
		j := i + 1
		if segments && !slices.Contains(refused, b.dests[i]) {
			size, total := len(b.bufs[i]), len(b.bufs[i])
			for j < len(b.bufs) && j-i < maxSegments && b.dests[j] == b.dests[i] {
				l := len(b.bufs[j])
				if l > size || total+l > maxSegmentBytes {
					break
				}
				total += l
				j++
				if l < size {
					break // a shorter datagram ends the run
				}
			}
		}
		m := ipv4.Message{Buffers: b.bufs[i:j:j], Addr: b.dests[i]}
		if j-i > 1 {
			k := len(b.msgs)
			for len(b.oobs) <= k {
				b.oobs = append(b.oobs, make([]byte, gsoSpace))
			}
			m.OOB = putGSO(b.oobs[k], len(b.bufs[i]))
		}
		b.msgs = append(b.msgs, m)
		i = j
	}
}

// first returns the index in bufs of message k's first datagram.
func (b *udpBatch) first(k int) int {
	n := 0
	for _, m := range b.msgs[:k] {
		n += len(m.Buffers)
	}
	return n
}

// ungroup turns the messages from off on into one message per datagram,
// for a kernel that refused to cut them.
func (b *udpBatch) ungroup(off int) {
	first := b.first(off)
	for i := off; i < len(b.msgs); i++ {
		b.msgs[i] = ipv4.Message{}
	}
	b.msgs = b.msgs[:off]
	for i := first; i < len(b.bufs); i++ {
		b.msgs = append(b.msgs, ipv4.Message{Buffers: b.bufs[i : i+1 : i+1], Addr: b.dests[i]})
	}
}
