package stream

import (
	"maps"
	"slices"
	"time"
)

// Drop reasons. The names are stable: the API and the metrics show them,
// and dashboards select on them.
const (
	// DropTooBig: a packet over 65535 bytes, which no TCP reader's
	// interleaved framing can carry.
	DropTooBig = "too big"
	// DropMarshal: a packet pion/rtp could not marshal.
	DropMarshal = "marshal error"
	// DropTrackEnded: a packet written to a track that had ended already
	// (a late write racing a codec change).
	DropTrackEnded = "track ended"
	// DropReaderSlow: a reader that fell a whole ring behind (ErrLagged),
	// or whose send queue filled; counted by the server, one per reader.
	DropReaderSlow = "reader too slow"
	// DropReaderStuck: a reader whose socket took nothing for the write
	// timeout; counted by the server, one per reader.
	DropReaderStuck = "reader stuck"
	// DropTooBigUDP: a packet over the largest UDP datagram readers take,
	// of a codec that cannot be cut (H.264 and H.265 are cut at
	// Options.PktSize); counted by the server, one per packet per reader.
	DropTooBigUDP = "too big for UDP"
	// DropUDPWrite: a datagram to a UDP reader that its socket refused;
	// counted by the server, one per packet per reader.
	DropUDPWrite = "UDP write error"
)

// Quirks the core notices itself (sources report theirs with
// Publisher.Quirk).
const (
	// QuirkNoMarker: a video track whose source set no marker bit in its
	// first noMarkerAfter of video.
	QuirkNoMarker = "no marker bits"
	// QuirkParamsInSDP: the SDP has parameter sets, and a keyframe came
	// without them and got them put in front.
	QuirkParamsInSDP = "parameter sets only in the SDP"
	// QuirkParamsInBand: the SDP had no parameter sets, they came in band.
	QuirkParamsInBand = "parameter sets only in band"
)

const (
	// DropLogEvery bounds the log lines of drops to one per reason per
	// stream (or reader) in this time: a camera sending only bad packets
	// must not flood the log.
	DropLogEvery = 10 * time.Second
	// noMarkerAfter: how long a video track may go without a marker bit
	// before it counts as a camera that never sets it (a frame, even a big
	// keyframe, takes far less).
	noMarkerAfter = 2 * time.Second
)

// StreamStats are a stream's counters since it was created.
type StreamStats struct {
	// BytesIn and PacketsIn count RTP from its producers (header included),
	// dropped packets too.
	BytesIn, PacketsIn uint64
	// Drops counts what was dropped, by reason (Drop*): packets for the
	// core's reasons, readers for the server's. Every Drop* reason is
	// present, at zero when nothing was dropped, so that a counter exists
	// from the start.
	Drops map[string]uint64
}

// dropCount is one core drop reason's counter and its log state.
type dropCount struct {
	n   uint64
	log LogThrottle
}

// LogThrottle says when to log a recurring event: the first time, then at
// most once per DropLogEvery, with how many came since the last line.
type LogThrottle struct {
	unlogged uint64    // since the last log line
	logged   time.Time // of the last log line
}

// Note counts n events at now; it returns true and how many to report when
// a line is due.
func (l *LogThrottle) Note(n uint64, now time.Time) (uint64, bool) {
	l.unlogged += n
	if !l.logged.IsZero() && now.Sub(l.logged) < DropLogEvery {
		return 0, false
	}
	count := l.unlogged
	l.logged, l.unlogged = now, 0
	return count, true
}

// streamCounters are a stream's counters; guarded by its write lock. The
// reasons of the packet path are fields, so counting one is arithmetic.
type streamCounters struct {
	bytesIn, packetsIn     uint64
	tooBig, marshal, ended dropCount
	byServer               map[string]uint64 // CountDrop's
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	c := &s.ctr
	st := StreamStats{
		BytesIn:   c.bytesIn,
		PacketsIn: c.packetsIn,
		Drops: map[string]uint64{
			DropTooBig: c.tooBig.n, DropMarshal: c.marshal.n, DropTrackEnded: c.ended.n,
			DropReaderSlow: 0, DropReaderStuck: 0, DropTooBigUDP: 0, DropUDPWrite: 0,
		},
	}
	for r, n := range c.byServer {
		st.Drops[r] += n
	}
	return st
}

// CountDrop counts one drop for reason, e.g. DropReaderSlow when the server
// drops a reader. The caller logs it: it knows the reader.
func (s *Stream) CountDrop(reason string) { s.CountDrops(reason, 1) }

// CountDrops counts n drops for reason at once (a batch of packets).
func (s *Stream) CountDrops(reason string, n uint64) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ctr.byServer == nil {
		s.ctr.byServer = map[string]uint64{}
	}
	s.ctr.byServer[reason] += n
}

// dropLocked counts a packet the core drops and logs it, rate-limited;
// s.wmu held.
func (s *Stream) dropLocked(d *dropCount, reason string, t *Track, now time.Time) {
	d.n++
	if count, ok := d.log.Note(1, now); ok {
		s.log.Warn("packets dropped", "reason", reason, "track", string(t.Kind)+" "+t.codec, "count", count, "total", d.n)
	}
}

// Track quirk bits, guarded by the stream's write lock.
const (
	quirkNoMarker uint8 = 1 << iota
	quirkParamsInSDP
	quirkParamsInBand
)

// quirkName names one quirk bit.
func quirkName(bit uint8) string {
	switch bit {
	case quirkNoMarker:
		return QuirkNoMarker
	case quirkParamsInSDP:
		return QuirkParamsInSDP
	case quirkParamsInBand:
		return QuirkParamsInBand
	}
	return ""
}

// quirkLocked notes a quirk of t; the first time, it is logged, like the
// sources' repairs. s.wmu held.
func (s *Stream) quirkLocked(t *Track, bit uint8) {
	if t.quirks&bit != 0 {
		return
	}
	t.quirks |= bit
	s.log.Info("camera quirk noticed", "quirk", quirkName(bit), "track", string(t.Kind)+" "+t.codec)
}

// noteVideoLocked notes the quirks a video packet shows, once its marker bit
// and parameter sets are taken in; s.wmu held. It inlines: once nothing is
// left to notice, it is one comparison, no call.
func (s *Stream) noteVideoLocked(t *Track, now time.Time) {
	if !t.quirksSettled {
		s.noteVideoSlow(t, now)
	}
}

func (s *Stream) noteVideoSlow(t *Track, now time.Time) {
	if !t.sawMarker && t.quirks&quirkNoMarker == 0 {
		if t.videoSince.IsZero() {
			t.videoSince = now
		} else if now.Sub(t.videoSince) >= noMarkerAfter {
			s.quirkLocked(t, quirkNoMarker)
		}
	}
	if !t.sdpParams && t.quirks&quirkParamsInBand == 0 && t.params.complete() {
		s.quirkLocked(t, quirkParamsInBand)
	}
	// a marker bit seen stays seen; sdpParams changes only with the format
	// (setFormat starts watching again)
	t.quirksSettled = (t.sawMarker || t.quirks&quirkNoMarker != 0) &&
		(t.sdpParams || t.quirks&quirkParamsInBand != 0)
}

// complete reports whether ps holds the SPS and PPS a decoder needs.
func (ps *paramSets) complete() bool { return len(ps.sps) > 0 && len(ps.pps) > 0 }

// RFC 3550 appendix A.1 bounds: a jump forward of up to maxDropout is loss,
// one back of up to maxMisorder is reordering; anything else is a restart of
// the sender's numbering once two packets in sequence confirm it.
const (
	maxDropout  = 3000
	maxMisorder = 100
	seqMod      = 1 << 16
)

// rxStats are the reception statistics of RFC 3550 (A.1, A.8) for one
// track, on the sequence numbers and timestamps the source sent, before
// our rewrite. Guarded by the stream's write lock.
type rxStats struct {
	started  bool
	maxSeq   uint16
	cycles   uint64 // wraps of the sequence number, times seqMod
	baseSeq  uint64
	badSeq   uint32 // the number that confirms a restart; seqMod+1: none
	received uint64
	// lostBefore: lost in the earlier runs of the numbering (before a
	// reconnect or a restart), which count again from zero
	lostBefore uint64

	hasLast bool
	lastArr time.Time
	lastTS  uint32
	jitter  float64 // in timestamp units
}

// packet takes one packet in; rate is the track's clock rate (0: unknown,
// no jitter).
func (rx *rxStats) packet(seq uint16, ts uint32, now time.Time, rate float64) {
	if !rx.started {
		rx.init(seq)
	} else if !rx.update(seq) {
		return
	}
	rx.received++
	if rate <= 0 {
		return
	}
	if rx.hasLast {
		// the difference of transit times of two packets, in timestamp
		// units (RFC 3550 §6.4.1)
		d := now.Sub(rx.lastArr).Seconds()*rate - float64(int32(ts-rx.lastTS))
		if d < 0 {
			d = -d
		}
		rx.jitter += (d - rx.jitter) / 16
	}
	rx.hasLast, rx.lastArr, rx.lastTS = true, now, ts
}

func (rx *rxStats) init(seq uint16) {
	rx.started = true
	rx.baseSeq, rx.maxSeq = uint64(seq), seq
	rx.badSeq = seqMod + 1
	rx.cycles, rx.received = 0, 0
}

// update follows the sequence number; false: the packet is not counted (a
// jump not confirmed yet).
func (rx *rxStats) update(seq uint16) bool {
	switch udelta := seq - rx.maxSeq; {
	case udelta < maxDropout: // in order, maybe with a gap
		if seq < rx.maxSeq {
			rx.cycles += seqMod
		}
		rx.maxSeq = seq
	case udelta <= seqMod-maxMisorder: // a big jump
		if uint32(seq) != rx.badSeq {
			rx.badSeq = uint32(seq + 1)
			return false
		}
		// two in sequence: the sender restarted its numbering
		rx.restart()
		rx.init(seq)
	default: // a duplicate or a late packet
	}
	return true
}

// restart ends the current run of the numbering, keeping its loss; the next
// packet starts a new one, so a gap across a reconnect is no loss.
func (rx *rxStats) restart() {
	rx.lostBefore = rx.lost()
	rx.started, rx.hasLast = false, false
}

// lost is the number of packets expected and not received, over every run.
func (rx *rxStats) lost() uint64 {
	if !rx.started {
		return rx.lostBefore
	}
	expected := rx.cycles + uint64(rx.maxSeq) - rx.baseSeq + 1
	if rx.received >= expected { // duplicates
		return rx.lostBefore
	}
	return rx.lostBefore + expected - rx.received
}

// jitterMS is the interarrival jitter in milliseconds.
func (rx *rxStats) jitterMS(rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return rx.jitter / rate * 1000
}

// healthLocked adds the reception counters and quirks of p's tracks to pi;
// s.mu held, it takes s.wmu.
func (p *producer) healthLocked(pi *ProducerInfo) {
	quirks := maps.Clone(p.quirks)
	if quirks == nil {
		quirks = map[string]struct{}{}
	}
	bits := p.goneQuirks
	pi.Lost = p.goneLost
	p.s.wmu.Lock()
	for _, t := range p.tracks {
		pi.Lost += t.rx.lost()
		pi.JitterMS = max(pi.JitterMS, t.rx.jitterMS(t.clock.rate))
		bits |= t.quirks
	}
	p.s.wmu.Unlock()
	for b := uint8(1); b != 0; b <<= 1 {
		if name := quirkName(b); bits&b != 0 && name != "" {
			quirks[name] = struct{}{}
		}
	}
	if len(quirks) > 0 {
		pi.Quirks = slices.Sorted(maps.Keys(quirks))
	}
}

// retireLocked keeps the counters of tracks p replaces, so that its totals
// do not go back; s.mu and s.wmu held.
func (p *producer) retireLocked(tracks []*Track) {
	for _, t := range tracks {
		p.goneLost += t.rx.lost()
		p.goneQuirks |= t.quirks
	}
}
