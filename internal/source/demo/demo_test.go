package demo

import (
	"context"
	"slices"
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

// recorder is a stream.Publisher that keeps what it gets; with stop set,
// it calls it once track 0 has started a frame past the first stopAfter.
type recorder struct {
	mu        sync.Mutex
	tracks    []*stream.Track
	pkts      map[int][]*rtp.Packet
	stop      func()
	stopAfter int
	frames    int         // distinct timestamps of track 0
	arrived   []time.Time // when each of them came
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
	prev := r.pkts[t.ID]
	if t.ID == 0 && (len(prev) == 0 || prev[len(prev)-1].Timestamp != p.Timestamp) {
		r.frames++
		r.arrived = append(r.arrived, time.Now())
		if r.stop != nil && r.frames > r.stopAfter {
			r.stop()
			return
		}
	}
	r.pkts[t.ID] = append(prev, p)
}

// TestRealTimeWithSteadyTimestamps runs the demo for 13 video frames:
// frames 40 ms apart (3600 ticks), audio 20 ms apart (160 ticks),
// timestamps only ever growing, the pace real time (a stall is caught up,
// never a burst ahead of the clock).
func TestRealTimeWithSteadyTimestamps(t *testing.T) {
	src, err := Open(stream.SourceSpec{Scheme: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec := &recorder{stop: cancel, stopAfter: 13}
	start := time.Now()
	if err := src.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	video, audio := rec.pkts[0], rec.pkts[1]
	var frames []uint32
	for i, p := range video {
		if i == 0 || p.Timestamp != video[i-1].Timestamp {
			frames = append(frames, p.Timestamp)
		}
	}
	if len(frames) != 13 {
		t.Fatalf("%d video frames, want 13 (the run ends at the 14th)", len(frames))
	}
	if elapsed < 12*40*time.Millisecond-20*time.Millisecond {
		t.Fatalf("13 frames in %v: ahead of real time (40 ms a frame)", elapsed)
	}
	// and not behind it: a stall and its catch-up move two gaps, not the
	// median
	var gaps []time.Duration
	for i := 1; i < len(rec.arrived); i++ {
		gaps = append(gaps, rec.arrived[i].Sub(rec.arrived[i-1]))
	}
	slices.Sort(gaps)
	if m := gaps[len(gaps)/2]; m < 30*time.Millisecond || m > 50*time.Millisecond {
		t.Fatalf("median time between frames %v, want 40 ms: %v", m, gaps)
	}
	for i := 1; i < len(frames); i++ {
		if frames[i]-frames[i-1] != 3600 {
			t.Fatalf("video frame %d is %d ticks after the previous, want 3600", i, frames[i]-frames[i-1])
		}
	}
	if n, most := len(audio), int(elapsed/(20*time.Millisecond))+3; n < 15 || n > most {
		t.Fatalf("%d audio packets in %v, want about one per 20 ms (15 to %d)", n, elapsed, most)
	}
	for i := 1; i < len(audio); i++ {
		if audio[i].Timestamp-audio[i-1].Timestamp != audioPerPkt || audio[i].SequenceNumber != audio[i-1].SequenceNumber+1 {
			t.Fatalf("audio packet %d: timestamp/sequence not continuous", i)
		}
	}
}
