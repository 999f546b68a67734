package stream

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtp"
)

// bigNAL is an H.264 NAL unit of n bytes behind header hdr.
func bigNAL(hdr byte, n int) []byte {
	b := make([]byte, n)
	b[0] = hdr
	for i := 1; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

// checkPieces checks what readers got for frames cut by the stream: every
// packet within limit, sequence numbers consecutive, and the NAL units as a
// depayloader reads them equal to want, frame by frame.
func checkPieces(t *testing.T, got []*Packet, limit int, want [][]byte) {
	t.Helper()
	var dec rtph264.Decoder
	if err := dec.Init(); err != nil {
		t.Fatal(err)
	}
	var nals [][]byte
	for i, p := range got {
		if len(p.Data) > limit {
			t.Errorf("packet %d: %d bytes, limit %d", i, len(p.Data), limit)
		}
		if i > 0 && p.Parse().SequenceNumber != got[i-1].Parse().SequenceNumber+1 {
			t.Errorf("packet %d: sequence number %d after %d", i, p.Parse().SequenceNumber, got[i-1].Parse().SequenceNumber)
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(p.Data); err != nil {
			t.Fatal(err)
		}
		au, err := dec.Decode(&pkt)
		if err == nil {
			nals = append(nals, au...)
		}
	}
	if len(nals) != len(want) {
		t.Fatalf("depayloaded %d NAL units, want %d", len(nals), len(want))
	}
	for i := range want {
		if !bytes.Equal(nals[i], want[i]) {
			t.Errorf("NAL unit %d: %d bytes %x…, want %d bytes %x…", i, len(nals[i]), nals[i][:4], len(want[i]), want[i][:4])
		}
	}
}

// TestOversizedPacketsCut: a publisher's 3000-byte IDR and P frame reach
// readers as FU-A packets of at most the packet size, with the keyframe still
// where a reader starts, the marker on the last piece only, the timestamp of
// the frame on every piece, and sequence numbers that go on after them.
func TestOversizedPacketsCut(t *testing.T) {
	s, pub := published(t, h264Spec)
	v := pub.Tracks[0]
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	key, p := bigNAL(0x65, 3000), bigNAL(0x41, 3000)
	pub.WritePacket(v, vpkt(10, 0, p, true), now, time.Time{}) // before the keyframe: skipped
	pub.WritePacket(v, vpkt(11, 3000, key, true), now, time.Time{})
	pub.WritePacket(v, vpkt(12, 6000, p, true), now, time.Time{})
	pub.WritePacket(v, vpkt(13, 9000, slice, true), now, time.Time{})
	got := drainReader(t, r, 7)
	if len(got) != 7 {
		t.Fatalf("%d packets, want 3 + 3 + 1", len(got))
	}
	for i, p := range got {
		if want := i == 0; p.Key != want {
			t.Errorf("packet %d: key %v", i, p.Key)
		}
		if want := i == 2 || i == 5 || i == 6; p.Parse().Marker != want {
			t.Errorf("packet %d: marker %v", i, p.Parse().Marker)
		}
		if i < 6 && p.Parse().Timestamp != got[3*(i/3)].Parse().Timestamp {
			t.Errorf("packet %d: timestamp %d, not its frame's", i, p.Parse().Timestamp)
		}
	}
	checkPieces(t, got, DefaultPktSize, [][]byte{key, p, slice})
}

// TestParameterSetsBeforeCutKeyframe: parameter sets from the SDP still go in
// front of a keyframe that is cut, and are cut themselves when even they do
// not fit a small packet size.
func TestParameterSetsBeforeCutKeyframe(t *testing.T) {
	bigSPS := bigNAL(0x67, 300)
	for _, limit := range []int{1400, 100} {
		opts := testOptions()
		opts.PktSize = limit
		reg := NewRegistry(opts)
		t.Cleanup(reg.Close)
		s := reg.GetOrCreate("cam")
		pub := publish(t, s, h264With(bigSPS, pps))
		v := pub.Tracks[0]
		r := s.NewReader(pub.Tracks)
		key := bigNAL(0x65, 3000)
		now := time.Now()
		pub.WritePacket(v, vpkt(100, 0, key, true), now, time.Time{})
		pub.WritePacket(v, vpkt(101, 3000, slice, true), now, time.Time{})
		got := drainReader(t, r, 3)
		for len(got) > 0 && got[len(got)-1].Parse().Payload[0] != slice[0] {
			got = drainReader(t, r, len(got)+1)
		}
		if !got[0].Key {
			t.Errorf("limit %d: the reader does not start at the parameter sets", limit)
		}
		for i, p := range got[1:] {
			if p.Key {
				t.Errorf("limit %d: packet %d is a start too", limit, i+1)
			}
		}
		checkPieces(t, got, limit, [][]byte{bigSPS, pps, key, slice})
		r.Close()
	}
}

// TestOtherCodecsNotCut: packets of codecs that cannot be cut pass whole.
func TestOtherCodecsNotCut(t *testing.T) {
	s, pub := published(t, pcmaSpec)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	pl := make([]byte, 3000)
	pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 1}, Payload: pl}, time.Now(), time.Time{})
	got := drainReader(t, r, 1)
	if len(got) != 1 || len(got[0].Parse().Payload) != 3000 {
		t.Fatalf("got %d packets, want the one packet whole", len(got))
	}
}

// TestDefaultCutsOnlyWhatNoDatagramCarries: without a packet size set, a
// 1460-byte packet (what ffmpeg publishes) goes on whole and one over 1472
// is cut to DefaultPktSize; with pkt_size 1400 set, the 1460-byte one is cut.
func TestDefaultCutsOnlyWhatNoDatagramCarries(t *testing.T) {
	for _, tc := range []struct {
		pktSize, payload, want int
	}{
		{0, 1448, 1},    // 1460 bytes marshalled
		{0, 1480, 2},    // 1492
		{1400, 1448, 2}, // set: a hard limit
	} {
		opts := testOptions()
		opts.PktSize = tc.pktSize
		reg := NewRegistry(opts)
		t.Cleanup(reg.Close)
		s := reg.GetOrCreate("cam")
		pub := publish(t, s, h264Spec)
		r := s.NewReader(pub.Tracks)
		pub.WritePacket(pub.Tracks[0], vpkt(1, 0, bigNAL(0x65, tc.payload), true), time.Now(), time.Time{})
		got := drainReader(t, r, tc.want)
		if more, _ := r.Next(nil); len(got)+len(more) != tc.want {
			t.Errorf("pkt_size %d, %d-byte payload: %d packets, want %d", tc.pktSize, tc.payload, len(got)+len(more), tc.want)
		}
		for _, p := range got {
			if tc.want > 1 && len(p.Data) > DefaultPktSize {
				t.Errorf("pkt_size %d: a %d-byte piece", tc.pktSize, len(p.Data))
			}
		}
		r.Close()
	}
}
