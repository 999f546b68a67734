package stream

import (
	"time"

	"github.com/pion/rtp"
)

// DefaultPktSize is the size H.264 and H.265 packets too big for any UDP
// datagram are cut to when Options.PktSize is not set: it fits a 1500-byte
// MTU with room for a tunnel's headers.
const DefaultPktSize = 1400

// maxUDPPacket is the largest RTP packet a UDP datagram carries on a
// 1500-byte MTU. Without Options.PktSize only packets over it are cut: a
// publisher's 1472-byte packets (ffmpeg's size) cut at 1400 would become
// two each, twice the packets for every reader (measured: a quarter more
// fan-out CPU) for nothing a reader needs.
const maxUDPPacket = 1472

// pushSplitLocked pushes pkt, cut into packets of at most the stream's
// packet size when it is an H.264 or H.265 packet over it (a publisher over
// TCP may send packets of any size; a UDP reader cannot take them). The
// pieces get consecutive sequence numbers and pkt's timestamp; the marker
// only on the last, Key only on the first. next is the source's packet that
// follows in sequence: pkt itself, or the packet a packet of ours (the
// parameter sets) is inserted before; it makes room for the extra pieces as
// insertBefore does. A packet that cannot be cut goes on whole. It returns
// pkt's size and false when it was dropped. s.wmu held.
func (s *Stream) pushSplitLocked(t *Track, pkt, next *rtp.Packet, now, wall time.Time, key bool) (int, bool) {
	size := pkt.MarshalSize()
	limit, over := s.opts.PktSize, s.opts.PktSize
	if limit == 0 {
		limit, over = DefaultPktSize, maxUDPPacket
	}
	if size <= over || t.codec != "H264" && t.codec != "H265" {
		return s.pushLocked(t, pkt, now, wall, key)
	}
	pieces, err := t.frag.Split(t.codec, pkt.Payload, limit-pkt.Header.MarshalSize())
	if err != nil {
		return s.pushLocked(t, pkt, now, wall, key)
	}
	for i, pl := range pieces {
		last := i == len(pieces)-1
		fp := &rtp.Packet{Header: pkt.Header, Payload: pl}
		fp.Marker = pkt.Marker && last
		fp.Padding = false // pushLocked clears its size
		switch {
		case next != pkt && i > 0, next == pkt && !last:
			fp.SequenceNumber = t.insertBefore(next)
		case next == pkt: // the last piece keeps the sequence number pkt has now
			fp.SequenceNumber = pkt.SequenceNumber
		}
		if _, ok := s.pushLocked(t, fp, now, wall, key && i == 0); !ok {
			return size, false
		}
	}
	return size, true
}
