package rtspserver

import (
	"context"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// srEvery is how often readers get an RTCP sender report per track:
// players need one to line audio up with video.
const srEvery = 5 * time.Second

// nextBatch waits for the reader's next packets and appends them to
// pkts[:0]; it returns only with packets or an error.
func nextBatch(ctx context.Context, r *stream.Reader, pkts []*stream.Packet) ([]*stream.Packet, error) {
	for {
		if err := r.Wait(ctx); err != nil {
			return pkts, err
		}
		var err error
		if pkts, err = r.Next(pkts[:0]); err != nil || len(pkts) > 0 {
			return pkts, err
		}
	}
}

// senderReports keeps, per position of a reader's tracks, what its sender
// reports say and when the next is due; the first is due at once, so a
// player has the clock of each track before its first packet.
type senderReports struct {
	next            []time.Time
	packets, octets []uint32
	// probe carries a packet's payload to the format's PTSEqualsDTS
	// without an allocation per packet looked at
	probe rtp.Packet
}

func newSenderReports(tracks int) *senderReports {
	return &senderReports{next: make([]time.Time, tracks), packets: make([]uint32, tracks), octets: make([]uint32, tracks)}
}

// count notes p as sent to the reader at pos.
func (s *senderReports) count(pos int, p *stream.Packet) {
	s.packets[pos]++
	s.octets[pos] += uint32(len(p.Payload()))
}

// due returns the sender report for the track at pos when one is due at
// now and the batch pkts has a packet to make it from, and nil otherwise.
func (s *senderReports) due(r *stream.Reader, pkts []*stream.Packet, pos int, now time.Time) []byte {
	if now.Before(s.next[pos]) {
		return nil
	}
	sr := s.report(r, pkts, pos)
	if sr != nil {
		s.next[pos] = now.Add(srEvery)
	}
	return sr
}

// report makes an RTCP sender report for the track at pos from the last
// packet of the batch whose timestamp is a presentation time that arrives
// in order (no B-frame), pairing its RTP time with its wall time on the
// stream's media clock.
func (s *senderReports) report(r *stream.Reader, pkts []*stream.Packet, pos int) []byte {
	for i := len(pkts) - 1; i >= 0; i-- {
		p := pkts[i]
		if r.Position(p.Track) != pos {
			continue
		}
		s.probe.Timestamp, s.probe.Payload = p.Timestamp, p.Payload()
		ok := p.Track.Format().PTSEqualsDTS(&s.probe)
		s.probe.Payload = nil
		if !ok {
			continue
		}
		sr := &rtcp.SenderReport{
			SSRC:        p.Track.SSRC,
			NTPTime:     ntp.Encode(p.Wall),
			RTPTime:     p.Timestamp,
			PacketCount: s.packets[pos],
			OctetCount:  s.octets[pos],
		}
		b, err := sr.Marshal()
		if err != nil {
			return nil
		}
		return b
	}
	return nil
}
