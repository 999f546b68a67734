package stream

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

var (
	sps1 = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	sps2 = []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0x50, 0x05, 0xbb, 0x01}
	pps  = []byte{0x68, 0xce, 0x3c, 0x80}
)

func h264With(sps, pps []byte) TrackSpec {
	return TrackSpec{Kind: Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}}
}

// stapA returns the NAL units inside an H.264 STAP-A payload.
func stapA(t *testing.T, p []byte) [][]byte {
	t.Helper()
	if len(p) == 0 || p[0]&0x1f != 24 {
		t.Fatalf("payload %x is not a STAP-A", p)
	}
	var c collect
	forEachH264(p, &c)
	return c
}

// collect is a nalSink that keeps whole NAL units.
type collect [][]byte

func (c *collect) nal(_ string, _ byte, n []byte, _ bool) {
	if n != nil {
		*c = append(*c, n)
	}
}

// TestMarkerlessKeyframeStart: without marker bits, a new timestamp starts an
// access unit, so a reader that joins late still starts at the keyframe and
// is woken once per frame.
func TestMarkerlessKeyframeStart(t *testing.T) {
	s, pub := published(t, h264Spec)
	v := pub.Tracks[0]
	now := time.Now()
	// a keyframe and a P frame go by before the reader joins
	pub.WritePacket(v, vpkt(1, 0, []byte{0x67, 1}, false), now, time.Time{})
	pub.WritePacket(v, vpkt(2, 0, idr, false), now, time.Time{})
	pub.WritePacket(v, vpkt(3, 3000, slice, false), now, time.Time{})
	r := s.NewReaderAt(pub.Tracks, false) // the next keyframe, not the cached one
	defer r.Close()
	<-r.wake // the kick of a new reader
	wakes := 0
	for f := range 3 {
		ts := uint32(6000 + 3000*f)
		pub.WritePacket(v, vpkt(uint16(4+3*f), ts, slice, false), now, time.Time{})
		pub.WritePacket(v, vpkt(uint16(5+3*f), ts, []byte{0x67, 2}, false), now, time.Time{}) // not at the start: no keyframe
		pub.WritePacket(v, vpkt(uint16(6+3*f), ts, slice, false), now, time.Time{})
		select {
		case <-r.wake:
			wakes++
		default:
		}
	}
	pub.WritePacket(v, vpkt(13, 15000, []byte{0x67, 3}, false), now, time.Time{})
	pub.WritePacket(v, vpkt(14, 15000, idr, false), now, time.Time{})
	pub.WritePacket(v, vpkt(15, 18000, slice, false), now, time.Time{})
	got := drainReader(t, r, 3)
	if !got[0].Key || got[0].Parse().Payload[0] != 0x67 || got[0].Parse().Payload[1] != 3 {
		t.Fatalf("first packet %x key=%v, want the SPS of the keyframe at 15000", got[0].Parse().Payload, got[0].Key)
	}
	if wakes < 2 {
		t.Fatalf("%d wakes over 3 frames without marker bits, want one per new frame", wakes)
	}
}

// TestParameterSetsPutBeforeKeyframe: a camera that sends SPS/PPS only in
// its SDP: every keyframe reaches readers with them in front, in one packet,
// with sequence numbers that stay continuous.
func TestParameterSetsPutBeforeKeyframe(t *testing.T) {
	s, pub := published(t, h264With(sps1, pps))
	v := pub.Tracks[0]
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	pub.WritePacket(v, vpkt(10, 0, idr, true), now, time.Time{})
	pub.WritePacket(v, vpkt(11, 3000, slice, true), now, time.Time{})
	got := drainReader(t, r, 3)
	if !got[0].Key || got[1].Key {
		t.Fatalf("key flags %v %v, want the reader to start at the parameter sets", got[0].Key, got[1].Key)
	}
	nals := stapA(t, got[0].Parse().Payload)
	if len(nals) != 2 || !bytes.Equal(nals[0], sps1) || !bytes.Equal(nals[1], pps) {
		t.Fatalf("parameter sets %x, want SPS and PPS of the SDP", nals)
	}
	if got[0].Parse().Timestamp != got[1].Parse().Timestamp || got[0].Parse().Marker {
		t.Fatal("parameter sets must carry the keyframe's timestamp and no marker")
	}
	for i := 1; i < len(got); i++ {
		if got[i].Parse().SequenceNumber != got[i-1].Parse().SequenceNumber+1 {
			t.Fatalf("sequence numbers %d then %d", got[i-1].Parse().SequenceNumber, got[i].Parse().SequenceNumber)
		}
	}
}

// TestInBandParametersNotRepeated: a camera that sends its parameter sets
// before each keyframe gets nothing added; the latest in-band ones are what
// a keyframe without them gets later.
func TestInBandParametersNotRepeated(t *testing.T) {
	s, pub := published(t, h264Spec) // nothing in the SDP
	v := pub.Tracks[0]
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	pub.WritePacket(v, vpkt(1, 0, sps2, false), now, time.Time{})
	pub.WritePacket(v, vpkt(2, 0, pps, false), now, time.Time{})
	pub.WritePacket(v, vpkt(3, 0, idr, true), now, time.Time{})
	pub.WritePacket(v, vpkt(4, 3000, idr, true), now, time.Time{}) // a keyframe without them
	got := drainReader(t, r, 5)
	if !bytes.Equal(got[0].Parse().Payload, sps2) || !bytes.Equal(got[2].Parse().Payload, idr) {
		t.Fatalf("first packets %x %x %x, want the camera's own SPS, PPS, IDR", got[0].Parse().Payload, got[1].Parse().Payload, got[2].Parse().Payload)
	}
	nals := stapA(t, got[3].Parse().Payload)
	if !bytes.Equal(nals[0], sps2) {
		t.Fatalf("added SPS %x, want the in-band one %x", nals[0], sps2)
	}
}

// TestNewParametersAfterReconnect: same codec, new SPS (a resolution change):
// the track stays, its format and generation change, and readers already
// there get the new SPS in band before the next keyframe.
func TestNewParametersAfterReconnect(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	p := &producer{s: s, name: "cam"}
	first, err := p.setTracks(t.Context(), []TrackSpec{h264With(sps1, pps)})
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(first)
	defer r.Close()
	gen := first[0].Generation()
	again, _ := p.setTracks(t.Context(), []TrackSpec{h264With(sps2, pps)})
	if again[0] != first[0] {
		t.Fatal("a new SPS must not end the track")
	}
	if first[0].Generation() == gen || !bytes.Equal(first[0].Format().(*format.H264).SPS, sps2) {
		t.Fatal("the track's format must carry the new SPS")
	}
	s.write(first[0], vpkt(1, 0, idr, true), time.Now(), time.Time{})
	got := drainReader(t, r, 2)
	if nals := stapA(t, got[0].Parse().Payload); !bytes.Equal(nals[0], sps2) {
		t.Fatalf("SPS in band %x, want the new one", nals[0])
	}
}

func FuzzParameterSets(f *testing.F) {
	f.Add([]byte{24, 0, 2, 0x67, 1, 0, 1, 0x68})
	f.Add([]byte{28, 0x85, 1})
	f.Add([]byte{48 << 1, 1, 0, 3, 33 << 1, 1, 9})
	f.Add([]byte{49 << 1, 1, 0x93})
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, codec := range []string{"H264", "H265"} {
			var ps paramSets
			ps.observe(codec, p)
			ps.fresh = false
			if ps.missing(codec, p) {
				for _, pl := range ps.payloads(codec) {
					if len(pl) == 0 {
						t.Fatal("empty payload")
					}
				}
			}
		}
	})
}

// TestPaddedPackets: a camera's RTP padding (as gortsplib parses it: both
// padding fields set) is kept on its packets, Payload is the payload
// without it, and the parameter sets put before a keyframe and the pieces
// of a cut packet carry no padding.
func TestPaddedPackets(t *testing.T) {
	s, pub := published(t, h264With(sps1, pps))
	v := pub.Tracks[0]
	r := s.NewReaderAt(pub.Tracks, false)
	defer r.Close()
	padded := func(seq uint16, ts uint32, payload []byte, marker bool) *rtp.Packet {
		p := vpkt(seq, ts, payload, marker)
		p.Padding, p.PaddingSize = true, 4
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back rtp.Packet // as a source gets it
		if err := back.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		return &back
	}
	big := append([]byte{0x65}, bytes.Repeat([]byte{7}, 3000)...)
	now := time.Now()
	pub.WritePacket(v, padded(1, 3000, idr, true), now, time.Time{})   // parameter sets go in front
	pub.WritePacket(v, padded(2, 6000, slice, true), now, time.Time{}) // whole
	pub.WritePacket(v, padded(3, 9000, big, true), now, time.Time{})   // cut
	// parameter sets, keyframe, slice, parameter sets, three pieces
	got := drainReader(t, r, 7)
	for i, p := range got {
		back := p.Parse()
		if !bytes.Equal(p.Payload(), back.Payload) {
			t.Errorf("packet %d: Payload %x, parsed payload %x", i, p.Payload(), back.Payload)
		}
		typ := back.Payload[0] & 0x1f
		wantPad := typ != 24 && typ != 28 // ours: STAP-A, FU-A
		if back.Padding != wantPad || wantPad && back.PaddingSize != 4 {
			t.Errorf("packet %d (%x…): padding %v of %d bytes, want %v", i, back.Payload[:1], back.Padding, back.PaddingSize, wantPad)
		}
	}
	if n := stapA(t, got[0].Payload()); len(n) != 2 || !bytes.Equal(n[0], sps1) || !bytes.Equal(n[1], pps) {
		t.Errorf("parameter sets %x, want the SPS and PPS alone", got[0].Payload())
	}
	if !bytes.Equal(got[1].Payload(), idr) || !bytes.Equal(got[2].Payload(), slice) {
		t.Errorf("payloads %x, %x; want the keyframe's and the slice's without padding", got[1].Payload(), got[2].Payload())
	}

	// a padding size without the padding bit: no bytes beyond the payload
	// (MarshalTo would count them without writing them)
	odd := vpkt(4, 12000, slice, true)
	odd.Header.PaddingSize, odd.PaddingSize = 9, 9
	pub.WritePacket(v, odd, now, time.Time{})
	p := drainReader(t, r, 1)[0]
	if back := p.Parse(); !bytes.Equal(back.Payload, slice) || back.Padding {
		t.Errorf("a padding size without the bit: payload %x, padding %v; want the slice alone", back.Payload, back.Padding)
	}
}
