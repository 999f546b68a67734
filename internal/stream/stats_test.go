package stream

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// feed gives rx one packet per sequence number, 20 ms apart.
func feed(rx *rxStats, seqs ...uint16) {
	at := time.Unix(0, 0)
	for i, q := range seqs {
		rx.packet(q, uint32(i*160), at.Add(time.Duration(i)*20*time.Millisecond), 8000)
	}
}

func seqRange(from uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = from + uint16(i)
	}
	return out
}

func TestLostCountsSequenceGaps(t *testing.T) {
	without := func(seqs []uint16, drop ...uint16) []uint16 {
		return slices.DeleteFunc(seqs, func(q uint16) bool { return slices.Contains(drop, q) })
	}
	cases := []struct {
		name string
		seqs []uint16
		want uint64
	}{
		{"none lost", seqRange(10, 20), 0},
		{"a gap", without(seqRange(10, 20), 13, 14), 2},
		{"wrap-around, none lost", seqRange(65530, 12), 0},
		{"wrap-around, 65535 and 0 lost", without(seqRange(65530, 12), 65535, 0), 2},
		{"several wraps", seqRange(1000, 3*65536), 0},
		{"reordered and duplicated", []uint16{1, 2, 4, 3, 5, 5, 6}, 0},
		{"lost at the end of a run of 65536", without(seqRange(0, 65536+10), 65535), 1},
		// a jump far beyond a dropout, confirmed by its successor, is the
		// sender renumbering: no loss for the numbers skipped
		{"renumbered", append(seqRange(100, 5), seqRange(40000, 5)...), 0},
		// a lone stray number is not counted at all
		{"one stray packet", []uint16{100, 101, 40000, 102, 103}, 0},
	}
	for _, c := range cases {
		var rx rxStats
		feed(&rx, c.seqs...)
		if got := rx.lost(); got != c.want {
			t.Errorf("%s: lost %d, want %d", c.name, got, c.want)
		}
	}
}

// TestLostAcrossReconnect: a source that reconnects numbers afresh; the gap
// is not loss, and losses of both connections add up.
func TestLostAcrossReconnect(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	p := &producer{s: s, name: "x"}
	var pub Publisher = &runPublisher{p: p, ctx: context.Background()}
	tracks, err := pub.SetTracks([]TrackSpec{pcmaSpec})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	write := func(seqs ...uint16) {
		for _, q := range seqs {
			now = now.Add(20 * time.Millisecond)
			pub.WritePacket(tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: q, Timestamp: uint32(q) * 160}, Payload: []byte{1}}, now, time.Time{})
		}
	}
	write(65533, 65534, 0, 1) // 65535 lost
	if _, err := pub.SetTracks([]TrackSpec{pcmaSpec}); err != nil {
		t.Fatal(err)
	}
	write(7, 8, 10) // 9 lost; 7 after 1 is the reconnect
	lost := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return p.info().Lost
	}
	if got := lost(); got != 2 {
		t.Fatalf("lost %d across a reconnect, want 2", got)
	}
	// a codec change replaces the track: its losses stay counted
	if _, err := pub.SetTracks([]TrackSpec{pcmuSpec}); err != nil {
		t.Fatal(err)
	}
	if got := lost(); got != 2 {
		t.Fatalf("lost %d after the track was replaced, want 2", got)
	}
}

func TestJitter(t *testing.T) {
	const rate = 8000
	start := time.Unix(1000, 0)
	t.Run("constant delay", func(t *testing.T) {
		var rx rxStats
		for i := range 100 {
			// sent every 20 ms, arriving 35 ms later: no variation
			rx.packet(uint16(i), uint32(i*160), start.Add(time.Duration(i)*20*time.Millisecond+35*time.Millisecond), rate)
		}
		if j := rx.jitterMS(rate); j > 1e-6 {
			t.Fatalf("jitter %g ms of a constant delay, want 0", j)
		}
	})
	t.Run("alternating delay", func(t *testing.T) {
		var rx rxStats
		const n = 50
		for i := range n {
			delay := time.Duration(i%2) * 10 * time.Millisecond // 0, 10, 0, 10 …
			rx.packet(uint16(i), uint32(i*160), start.Add(time.Duration(i)*20*time.Millisecond+delay), rate)
		}
		// every |D| is 10 ms: J_i = J_{i-1} + (10 ms - J_{i-1})/16 from
		// J_1 = 0, so after n-1 differences J = 10 ms * (1 - (15/16)^(n-1))
		want := 10 * (1 - math.Pow(15.0/16, n-1))
		if j := rx.jitterMS(rate); math.Abs(j-want) > 1e-6 {
			t.Fatalf("jitter %g ms, want %g ms (RFC 3550 §6.4.1)", j, want)
		}
	})
	t.Run("reported per producer as the max of its tracks", func(t *testing.T) {
		s, pub := published(t, pcmaSpec, h264Spec)
		a, v := pub.Tracks[0], pub.Tracks[1]
		for i := range 40 {
			at := start.Add(time.Duration(i) * 20 * time.Millisecond)
			pub.WritePacket(a, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, Payload: []byte{1}}, at, time.Time{})
			jittered := at.Add(time.Duration(i%2) * 4 * time.Millisecond)
			pub.WritePacket(v, vpkt(uint16(i), uint32(i*1800), idr, true), jittered, time.Time{})
		}
		want := 4 * (1 - math.Pow(15.0/16, 39))
		if j := s.Producers()[0].JitterMS; math.Abs(j-want) > 1e-6 {
			t.Fatalf("producer jitter %g ms, want the video track's %g ms", j, want)
		}
	})
}

// logBuffer is a logger writing to a buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestDropsCountedAndLoggedRarely(t *testing.T) {
	opts := testOptions()
	log, buf := logBuffer()
	opts.Logger = log
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, pcmaSpec)
	tr := pub.Tracks[0]
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	pkt := func(seq uint16, size int) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq}, Payload: make([]byte, size)}
	}
	pub.WritePacket(tr, pkt(1, 100), now, time.Time{})
	pub.WritePacket(tr, pkt(2, 70000), now, time.Time{})                     // too big
	pub.WritePacket(tr, pkt(3, 70000), now.Add(time.Second), time.Time{})    // too big, not logged
	pub.WritePacket(tr, pkt(4, 70000), now.Add(11*time.Second), time.Time{}) // logged again
	pub.WritePacket(tr, pkt(5, 100), now.Add(11*time.Second), time.Time{})
	s.CountDrop(DropReaderSlow)
	s.CountDrop(DropReaderStuck)
	s.CountDrop(DropReaderStuck)

	st := s.Stats()
	if st.PacketsIn != 5 || st.BytesIn != 2*112+3*70012 {
		t.Fatalf("in: %d packets, %d bytes; want 5, %d", st.PacketsIn, st.BytesIn, 2*112+3*70012)
	}
	want := map[string]uint64{DropTooBig: 3, DropMarshal: 0, DropTrackEnded: 0, DropReaderSlow: 1, DropReaderStuck: 2}
	for reason, n := range want {
		if st.Drops[reason] != n {
			t.Errorf("drops %q = %d, want %d (all: %v)", reason, st.Drops[reason], n, st.Drops)
		}
	}
	if lines := strings.Count(buf.String(), `reason="too big"`); lines != 2 {
		t.Fatalf("%d log lines for 3 drops over 11 s, want 2 (one per 10 s):\n%s", lines, buf)
	}
	if !strings.Contains(buf.String(), "count=2") {
		t.Fatalf("the second line does not say how many were dropped since the first:\n%s", buf)
	}
	if got := drainReader(t, r, 2); len(got[0].Parse().Payload) != 100 || len(got[1].Parse().Payload) != 100 {
		t.Fatal("the packets around the dropped ones did not reach the reader")
	}
}

func TestDropOnEndedTrackCounted(t *testing.T) {
	s, pub := published(t, pcmaSpec)
	tr := pub.Tracks[0]
	tr.close()
	pub.WritePacket(tr, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8}, Payload: []byte{1}}, time.Now(), time.Time{})
	if st := s.Stats(); st.Drops[DropTrackEnded] != 1 || st.PacketsIn != 1 {
		t.Fatalf("stats %+v, want one packet in and dropped as %q", st, DropTrackEnded)
	}
}

func quirksOf(s *Stream) []string { return s.Producers()[0].Quirks }

func TestQuirksNoticed(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0, 0x1f}, []byte{0x68, 0xce, 0x3c, 0x80}
	withParams := TrackSpec{Kind: Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}}
	start := time.Now()
	// frames writes frames from..to-1, one packet each, 40 ms apart
	frames := func(pub *Publication, from, to int, marker bool, payload func(i int) []byte) {
		for i := from; i < to; i++ {
			at := start.Add(time.Duration(i) * 40 * time.Millisecond)
			pub.WritePacket(pub.Tracks[0], vpkt(uint16(i), uint32(i*3600), payload(i), marker), at, time.Time{})
		}
	}
	t.Run("a camera that does everything right has none", func(t *testing.T) {
		s, pub := published(t, withParams)
		stap := append(append([]byte{0x78, 0, byte(len(sps))}, sps...), append([]byte{0, byte(len(pps))}, pps...)...)
		frames(pub, 0, 100, true, func(i int) []byte {
			if i%25 == 0 {
				return stap // parameter sets in band before each keyframe
			}
			if i%25 == 1 {
				return idr
			}
			return slice
		})
		if q := quirksOf(s); len(q) != 0 {
			t.Fatalf("quirks %q, want none", q)
		}
	})
	t.Run("no marker bits after 2 s", func(t *testing.T) {
		s, pub := published(t, h264Spec)
		frames(pub, 0, 25, false, func(int) []byte { return slice }) // 0.96 s
		if q := quirksOf(s); slices.Contains(q, QuirkNoMarker) {
			t.Fatalf("quirks %q after 1 s of video", q)
		}
		frames(pub, 25, 75, false, func(int) []byte { return slice }) // to 2.96 s
		if q := quirksOf(s); !slices.Contains(q, QuirkNoMarker) {
			t.Fatalf("quirks %q, want %q", q, QuirkNoMarker)
		}
	})
	t.Run("parameter sets only in the SDP", func(t *testing.T) {
		s, pub := published(t, withParams)
		frames(pub, 0, 3, true, func(int) []byte { return idr })
		if q := quirksOf(s); !slices.Equal(q, []string{QuirkParamsInSDP}) {
			t.Fatalf("quirks %q, want [%q]", q, QuirkParamsInSDP)
		}
	})
	t.Run("parameter sets only in band", func(t *testing.T) {
		s, pub := published(t, h264Spec)
		// once only: the second keyframe gets them put in front, which is
		// no sign of "only in the SDP" here
		frames(pub, 0, 5, true, func(i int) []byte { return [][]byte{sps, pps, idr, slice, idr}[i] })
		if q := quirksOf(s); !slices.Equal(q, []string{QuirkParamsInBand}) {
			t.Fatalf("quirks %q, want [%q]", q, QuirkParamsInBand)
		}
	})
	t.Run("reported by the source, sorted and once each", func(t *testing.T) {
		reg := NewRegistry(testOptions())
		defer reg.Close()
		s := reg.GetOrCreate("cam")
		p := &producer{s: s, name: "x"}
		var pub Publisher = &runPublisher{p: p, ctx: context.Background()}
		pub.Quirk("transport without interleaved")
		pub.Quirk("bare LF line ends")
		pub.Quirk("transport without interleaved")
		s.mu.Lock()
		got := p.info().Quirks
		s.mu.Unlock()
		if want := []string{"bare LF line ends", "transport without interleaved"}; !slices.Equal(got, want) {
			t.Fatalf("quirks %q, want %q", got, want)
		}
	})
}
