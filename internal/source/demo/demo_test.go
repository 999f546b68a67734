package demo

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

func TestClipSplitsIntoFrames(t *testing.T) {
	aus, sps, pps := accessUnits(clipH264)
	if len(aus) != 8*fps {
		t.Fatalf("clip has %d frames, want %d (8 s at %d fps)", len(aus), 8*fps, fps)
	}
	if sps == nil || pps == nil {
		t.Fatal("no SPS/PPS in the clip")
	}
	if typ := aus[0][0][0] & 0x1f; typ != 7 {
		t.Fatalf("first frame starts with NAL type %d, want SPS (7)", typ)
	}
	if len(clipALaw) != 8*audioRate {
		t.Fatalf("audio lasts %d samples, want %d: the loop would drift", len(clipALaw), 8*audioRate)
	}
}

// recorder is a stream.Publisher that keeps what it gets.
type recorder struct {
	mu     sync.Mutex
	tracks []*stream.Track
	pkts   map[int][]*rtp.Packet
}

func (r *recorder) SetTracks(specs []stream.TrackSpec) ([]*stream.Track, error) {
	r.tracks = make([]*stream.Track, len(specs))
	for i, s := range specs {
		r.tracks[i] = stream.NewTrack(i, s)
	}
	r.pkts = map[int][]*rtp.Packet{}
	return r.tracks, nil
}

func (r *recorder) Wanted() bool { return true }

func (r *recorder) SetSinks([]stream.SinkSpec, string) {}

func (r *recorder) Quirk(string) {}

func (r *recorder) WritePacket(t *stream.Track, p *rtp.Packet, _, _ time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts[t.ID] = append(r.pkts[t.ID], p)
}

// TestRealTimeWithSteadyTimestamps runs the demo for a moment: video frames
// 40 ms apart (3600 ticks), audio 20 ms apart (160 ticks), timestamps only
// ever growing, the pace real time.
func TestRealTimeWithSteadyTimestamps(t *testing.T) {
	src, err := Open(stream.SourceSpec{Scheme: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := src.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	video, audio := rec.pkts[0], rec.pkts[1]
	var frames []uint32
	for i, p := range video {
		if i == 0 || p.Timestamp != video[i-1].Timestamp {
			frames = append(frames, p.Timestamp)
		}
	}
	if len(frames) < 10 || len(frames) > 15 {
		t.Fatalf("%d video frames in 0.5 s, want about 12", len(frames))
	}
	for i := 1; i < len(frames); i++ {
		if frames[i]-frames[i-1] != 3600 {
			t.Fatalf("video frame %d is %d ticks after the previous, want 3600", i, frames[i]-frames[i-1])
		}
	}
	if len(audio) < 20 || len(audio) > 30 {
		t.Fatalf("%d audio packets in 0.5 s, want about 25", len(audio))
	}
	for i := 1; i < len(audio); i++ {
		if audio[i].Timestamp-audio[i-1].Timestamp != audioPerPkt || audio[i].SequenceNumber != audio[i-1].SequenceNumber+1 {
			t.Fatalf("audio packet %d: timestamp/sequence not continuous", i)
		}
	}
}
