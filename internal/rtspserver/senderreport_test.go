package rtspserver

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// TestSenderReportFromBatch: a report is made from the last packet whose
// time is a presentation time (an H.264 packet with parameter sets, not a
// fragment); while a report is due and a batch has none, looking costs no
// allocation, since it happens on every frame of every reader until one
// comes.
func TestSenderReportFromBatch(t *testing.T) {
	_, st, pub := h264Stream(t, stream.Options{})
	r := st.NewReader(pub.Tracks)
	t.Cleanup(r.Close)
	now := time.Now()
	write := func(ts uint32, payloads ...[]byte) []*stream.Packet {
		for i, pl := range payloads {
			pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(ts/3000*10) + uint16(i), Timestamp: ts, Marker: i == len(payloads)-1}, Payload: pl}, now, time.Time{})
		}
		pkts, err := r.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		return pkts
	}
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	key := write(3000, sps, pps, []byte{0x65, 0x88, 1, 2})
	frags := write(6000, []byte{0x7c, 0x81, 1}, []byte{0x7c, 0x41, 2}) // FU-A of a P slice

	reports := newSenderReports(1)
	if sr := reports.due(r, frags, 0, now); sr != nil {
		t.Fatalf("a report from fragments: %x", sr)
	}
	if n := testing.AllocsPerRun(100, func() { reports.due(r, frags, 0, now) }); n != 0 {
		t.Errorf("%v allocations per look at a batch without a presentation time, want 0", n)
	}
	sr := reports.due(r, key, 0, now)
	if sr == nil {
		t.Fatal("no report from a keyframe batch")
	}
	pkts, err := rtcp.Unmarshal(sr)
	if err != nil {
		t.Fatal(err)
	}
	if got := pkts[0].(*rtcp.SenderReport); got.RTPTime != key[len(key)-1].Timestamp || got.SSRC != pub.Tracks[0].SSRC {
		t.Errorf("report %+v, want the keyframe's RTP time %d and the track's SSRC", got, key[len(key)-1].Timestamp)
	}
	if reports.due(r, key, 0, now) != nil {
		t.Error("a second report before srEvery")
	}
}
