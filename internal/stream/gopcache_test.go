package stream

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// writeGOP writes one group of pictures of track v at ts: SPS, PPS and IDR
// as one access unit, then n-1 frames of one slice each, with an audio packet
// of track a after every frame. It returns the next sequence number.
func writeGOP(pub *Publication, v, a *Track, seq uint16, ts uint32, n int, at time.Time, pad int) uint16 {
	body := func(p []byte) []byte { return append(append([]byte(nil), p...), make([]byte, pad)...) }
	pub.WritePacket(v, vpkt(seq, ts, []byte{0x67, 1}, false), at, time.Time{})
	pub.WritePacket(v, vpkt(seq+1, ts, []byte{0x68, 1}, false), at, time.Time{})
	pub.WritePacket(v, vpkt(seq+2, ts, body(idr), true), at, time.Time{})
	seq += 3
	for i := range n {
		if i > 0 {
			pub.WritePacket(v, vpkt(seq, ts+uint32(i)*3000, body(slice), true), at, time.Time{})
			seq++
		}
		if a != nil {
			pub.WritePacket(a, &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: seq, Timestamp: ts + uint32(i)*320}, Payload: []byte{byte(i)}}, at, time.Time{})
		}
	}
	return seq
}

func TestNewReaderStartsAtLastKeyframe(t *testing.T) {
	s, pub := published(t, h264Spec, pcmaSpec)
	v, a := pub.Tracks[0], pub.Tracks[1]
	now := time.Now()
	// audio before any keyframe, then a GOP, then half of the next one
	pub.WritePacket(a, &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 100}, Payload: []byte{0xaa}}, now, time.Time{})
	seq := writeGOP(pub, v, a, 1, 0, 5, now, 0)
	writeGOP(pub, v, a, seq, 90000, 3, now, 0)

	r := s.NewReader(pub.Tracks)
	defer r.Close()
	got := drainReader(t, r, 3+2+3) // SPS, PPS, IDR, 2 slices, 3 audio
	if got[0].Track != v || got[0].Parse().Payload[0] != 0x67 || !got[0].Key {
		t.Fatalf("the first packet is not the keyframe's SPS: %+v", got[0].Parse())
	}
	if got[1].Parse().Payload[0] != 0x68 || got[2].Parse().Payload[0] != 0x65 {
		t.Fatal("the cached keyframe is not whole")
	}
	audio := 0
	for _, p := range got {
		if p.Track == a {
			audio++
		} else if p.Parse().Timestamp < got[0].Parse().Timestamp {
			t.Fatalf("video from before the last keyframe: %+v", p.Parse().Header)
		}
	}
	if more, _ := r.Next(nil); audio != 3 || len(more) != 0 {
		t.Fatalf("%d audio packets and %d more, want the 3 after the keyframe only", audio, len(more))
	}
	// the original timestamps: the IDR and the next frame are one frame apart
	if d := got[4].Parse().Timestamp - got[2].Parse().Timestamp; got[4].Track != v || d != 3000 {
		t.Fatalf("timestamps changed in the cache: %d", d)
	}
}

func TestNewReaderWithoutCacheWaitsForNextKeyframe(t *testing.T) {
	s, pub := published(t, h264Spec, pcmaSpec)
	v, a := pub.Tracks[0], pub.Tracks[1]
	now := time.Now()
	seq := writeGOP(pub, v, a, 1, 0, 5, now, 0)
	r := s.NewReaderAt(pub.Tracks, false)
	defer r.Close()
	pub.WritePacket(v, vpkt(seq, 99000, slice, true), now, time.Time{})
	pub.WritePacket(a, &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 200}, Payload: []byte{0xbb}}, now, time.Time{})
	writeGOP(pub, v, nil, seq+1, 180000, 1, now, 0)
	got := drainReader(t, r, 4)
	if got[0].Track != a || got[0].Parse().Payload[0] != 0xbb {
		t.Fatalf("without the cache audio starts live: %+v", got[0].Parse())
	}
	if got[1].Parse().Payload[0] != 0x67 || got[1].Parse().Timestamp != got[3].Parse().Timestamp {
		t.Fatal("without the cache video starts at the next keyframe")
	}
}

func TestOptionsNoGOPCache(t *testing.T) {
	opts := testOptions()
	opts.NoGOPCache = true
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, h264Spec)
	writeGOP(pub, pub.Tracks[0], nil, 1, 0, 3, time.Now(), 0)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	if got, _ := r.Next(nil); len(got) != 0 {
		t.Fatalf("with the cache off a reader got %d old packets", len(got))
	}
}

// syncBuffer is a log sink safe for the stream's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestGOPLargerThanBufferFallsBackToNextKeyframe(t *testing.T) {
	var logs syncBuffer
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	opts.BufferSize = 20 << 10
	opts.Lag = time.Millisecond
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, h264Spec)
	v := pub.Tracks[0]
	start := time.Now()
	seq := writeGOP(pub, v, nil, 1, 0, 30, start, 1000) // ~30 KB: more than the buffer
	for range 2 {
		r := s.NewReader(pub.Tracks)
		if got, _ := r.Next(nil); len(got) != 0 {
			t.Fatalf("a reader got %d packets of a GOP whose keyframe is gone", len(got))
		}
		r.Close()
	}
	if n := strings.Count(logs.String(), "does not fit the stream's buffer"); n != 1 {
		t.Fatalf("the fallback was logged %d times, want once:\n%s", n, logs.String())
	}
	// a GOP that fits is served from its keyframe again
	writeGOP(pub, v, nil, seq, 900000, 3, start.Add(time.Second), 100)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	if got := drainReader(t, r, 1); got[0].Parse().Payload[0] != 0x67 {
		t.Fatal("a GOP that fits is not served from its keyframe")
	}
}

func TestBufferHoldsOneGOPAndTheLagWindow(t *testing.T) {
	opts := testOptions()
	opts.Lag = time.Second
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, h264Spec, pcmaSpec)
	v, a := pub.Tracks[0], pub.Tracks[1]
	start := time.Now()
	seq := uint16(1)
	// 10 GOPs of 30 frames, 1 s each, ~1 KB per frame: 300 KB written,
	// far more than 1000 slots, far less than the byte bound
	for g := range 10 {
		seq = writeGOP(pub, v, a, seq, uint32(g)*90000, 30, start.Add(time.Duration(g)*time.Second), 1000)
	}
	s.wmu.Lock()
	held, slots, tail, head := s.ring.held, len(s.ring.slots.Load().s), s.ring.tail, s.ring.head.Load()
	s.wmu.Unlock()
	// the last GOP and the lag window (the GOP before it): two of ten
	if held > 3*32*(1000+50) || held < 30*1000 {
		t.Fatalf("the ring holds %d bytes, want about two GOPs of ~32 KB", held)
	}
	if head-tail > 2*(3+30+29) {
		t.Fatalf("the ring holds %d packets, want at most two GOPs", head-tail)
	}
	if slots < int(head-tail) {
		t.Fatalf("%d slots for %d packets", slots, head-tail)
	}
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	if got := drainReader(t, r, 1); got[0].Parse().Timestamp != pub.Tracks[0].lastTS-29*3000 {
		t.Fatal("the reader did not start at the last GOP")
	}
}

// TestReaderSurvivesRingGrowth: a reader that is behind while the slot array
// doubles still gets every packet.
func TestReaderSurvivesRingGrowth(t *testing.T) {
	s, pub := published(t, pcmaSpec)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	var got []*Packet
	n := 0
	for i := range 5 * minSlots {
		pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: uint16(i)}, Payload: []byte{byte(i)}}, now, time.Time{})
		if i%(minSlots/2) == 0 {
			var err error
			if got, err = r.Next(got[:0]); err != nil {
				t.Fatalf("after %d packets: %v", i, err)
			}
			n += len(got)
		}
	}
	got, err := r.Next(got[:0])
	if err != nil || n+len(got) != 5*minSlots {
		t.Fatalf("got %d of %d packets: %v", n+len(got), 5*minSlots, err)
	}
}

// TestCacheNotServedAcrossGaps: a reader that comes after the source
// reconnected, or after the stream went quiet, does not start with the
// pictures of before.
func TestCacheNotServedAcrossGaps(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	var p Publisher = &runPublisher{p: &producer{s: s, name: "x"}, ctx: context.Background()}
	tracks, err := p.SetTracks([]TrackSpec{h264Spec})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p.WritePacket(tracks[0], vpkt(1, 0, idr, true), now, time.Time{})
	p.WritePacket(tracks[0], vpkt(2, 3000, slice, true), now, time.Time{})
	if _, err := p.SetTracks([]TrackSpec{h264Spec}); err != nil { // a reconnect
		t.Fatal(err)
	}
	p.WritePacket(tracks[0], vpkt(50, 90000, slice, true), now, time.Time{}) // mid-GOP
	r := s.NewReader(tracks)
	if got, _ := r.Next(nil); len(got) != 0 {
		t.Fatalf("after a reconnect a new reader got %d packets of the connection before", len(got))
	}
	r.Close()

	s2, pub := published(t, h264Spec)
	writeGOP(pub, pub.Tracks[0], nil, 1, 0, 3, time.Now().Add(-2*time.Second), 0)
	r2 := s2.NewReader(pub.Tracks)
	defer r2.Close()
	if got, _ := r2.Next(nil); len(got) != 0 {
		t.Fatalf("a stream quiet for 2 s gave a new reader %d old packets", len(got))
	}
}
