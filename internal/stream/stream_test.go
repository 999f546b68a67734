package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

func testOptions() Options {
	return Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// long enough that a step of a test after a hold ends (a new
		// reader, a new publisher) is not late on a loaded machine
		Grace:          500 * time.Millisecond,
		PublisherGrace: 500 * time.Millisecond,
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     20 * time.Millisecond,
	}
}

var (
	h264Spec = TrackSpec{Kind: Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}}
	pcmaSpec = TrackSpec{Kind: Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}}
	pcmuSpec = TrackSpec{Kind: Audio, Format: &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}}
)

// idr and slice are H.264 payloads: a keyframe NAL and a non-key one.
var (
	idr   = []byte{0x65, 1, 2, 3}
	slice = []byte{0x41, 1, 2, 3}
)

func vpkt(seq uint16, ts uint32, payload []byte, marker bool) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 1234, Marker: marker}, Payload: payload}
}

// published returns a stream "cam" of a fresh registry with a publisher of
// specs; the registry closes with the test.
func published(t *testing.T, specs ...TrackSpec) (*Stream, *Publication) {
	t.Helper()
	reg := NewRegistry(testOptions())
	t.Cleanup(reg.Close)
	s := reg.GetOrCreate("cam")
	return s, publish(t, s, specs...)
}

func publish(t *testing.T, s *Stream, specs ...TrackSpec) *Publication {
	t.Helper()
	pub, err := s.Publish(specs, "test")
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func drainReader(t *testing.T, r *Reader, want int) []*Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer context.AfterFunc(ctx, r.Kick)()
	var got []*Packet
	for len(got) < want {
		if err := r.Wait(ctx); err != nil {
			t.Fatalf("after %d of %d packets: %v", len(got), want, err)
		}
		var err error
		if got, err = r.Next(got); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestFanOutDeliversEveryPacketToEveryReader(t *testing.T) {
	s, pub := published(t, h264Spec)
	tr := pub.Tracks[0]
	readers := make([]*Reader, 3)
	for i := range readers {
		readers[i] = s.NewReader(pub.Tracks)
	}
	const n = 100
	go func() {
		for i := range n {
			p := slice
			if i == 0 {
				p = idr
			}
			pub.WritePacket(tr, vpkt(uint16(1000+i), uint32(i*3000), p, true), time.Now(), time.Time{})
		}
	}()
	for _, r := range readers {
		got := drainReader(t, r, n)
		if len(got) != n {
			t.Fatalf("got %d packets, want %d", len(got), n)
		}
		for i, p := range got {
			if p.Parse().SSRC != tr.SSRC {
				t.Fatalf("packet %d SSRC %d, want the track's %d", i, p.Parse().SSRC, tr.SSRC)
			}
			if i > 0 && p.Parse().SequenceNumber != got[i-1].Parse().SequenceNumber+1 {
				t.Fatalf("packet %d: sequence %d after %d", i, p.Parse().SequenceNumber, got[i-1].Parse().SequenceNumber)
			}
			var back rtp.Packet
			if err := back.Unmarshal(p.Data); err != nil || back.SequenceNumber != p.Parse().SequenceNumber || string(back.Payload) != string(p.Parse().Payload) {
				t.Fatalf("packet %d: marshalled bytes do not match the packet (%v)", i, err)
			}
		}
		r.Close()
	}
	if s.ReaderCount() != 0 {
		t.Fatalf("%d readers left after Close", s.ReaderCount())
	}
}

func TestVideoReaderStartsAtKeyframe(t *testing.T) {
	s, pub := published(t, h264Spec, pcmaSpec)
	v, a := pub.Tracks[0], pub.Tracks[1]
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	pub.WritePacket(v, vpkt(1, 0, slice, true), now, time.Time{})                                                                // not decodable: skipped
	pub.WritePacket(a, &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 1}, Payload: []byte{1}}, now, time.Time{}) // audio: kept
	pub.WritePacket(v, vpkt(2, 3000, []byte{0x67, 1}, false), now, time.Time{})                                                  // SPS starts the keyframe
	pub.WritePacket(v, vpkt(3, 3000, idr, true), now, time.Time{})
	got := drainReader(t, r, 3)
	if got[0].Track != a || got[1].Track != v || got[1].Parse().Payload[0] != 0x67 || got[2].Parse().Payload[0] != 0x65 {
		t.Fatalf("reader got the wrong packets: %+v", got)
	}
}

func TestSlowReaderIsDroppedOthersContinue(t *testing.T) {
	opts := testOptions()
	opts.BufferSize = 16 * (Headroom + 13) // 16 one-byte audio packets
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, pcmaSpec)
	slow := s.NewReader(pub.Tracks)
	fast := s.NewReader(pub.Tracks)
	var got []*Packet
	for i := range 40 {
		pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: uint16(i)}, Payload: []byte{byte(i)}}, time.Now(), time.Time{})
		var err error
		if got, err = fast.Next(got); err != nil {
			t.Fatalf("fast reader: %v", err)
		}
	}
	if len(got) != 40 {
		t.Fatalf("fast reader got %d packets, want 40", len(got))
	}
	if _, err := slow.Next(nil); !errors.Is(err, ErrLagged) {
		t.Fatalf("slow reader: got %v, want ErrLagged", err)
	}
}

func TestSameCodecsKeepTracksAcrossReconnect(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	var p Publisher = &runPublisher{p: &producer{s: s, name: "x"}, ctx: context.Background()}
	first, err := p.SetTracks([]TrackSpec{h264Spec})
	if err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(first)
	defer r.Close()
	now := time.Now()
	p.WritePacket(first[0], vpkt(500, 9000, idr, true), now, time.Time{})
	again, _ := p.SetTracks([]TrackSpec{h264Spec})
	if again[0] != first[0] {
		t.Fatal("same codecs after reconnect gave a new track")
	}
	// the camera restarts its numbering; readers must not see a jump back
	p.WritePacket(again[0], vpkt(7, 100, idr, true), now.Add(40*time.Millisecond), time.Time{})
	got := drainReader(t, r, 2)
	if got[1].Parse().SequenceNumber != got[0].Parse().SequenceNumber+1 {
		t.Fatalf("sequence %d after %d across reconnect", got[1].Parse().SequenceNumber, got[0].Parse().SequenceNumber)
	}
	if d := got[1].Parse().Timestamp - got[0].Parse().Timestamp; d < 3000 || d > 4500 {
		t.Fatalf("timestamp moved %d ticks across a 40 ms reconnect, want about 3600", d)
	}
	changed, _ := p.SetTracks([]TrackSpec{pcmuSpec})
	if changed[0] == first[0] {
		t.Fatal("a codec change kept the old track")
	}
	select {
	case <-first[0].Done():
	default:
		t.Fatal("old track not ended after a codec change")
	}
	if err := r.Wait(context.Background()); !errors.Is(err, ErrTrackEnded) {
		t.Fatalf("reader of the old track: %v, want ErrTrackEnded", err)
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	first := publish(t, s, h264Spec)
	if _, err := s.Publish([]TrackSpec{h264Spec}, "second"); !errors.Is(err, ErrPublisherBusy) {
		t.Fatalf("second publisher: %v, want ErrPublisherBusy", err)
	}
	r := s.NewReader(first.Tracks)
	defer r.Close()
	first.Close()
	// a publisher with the same codecs within the grace keeps the reader
	again := publish(t, s, h264Spec)
	if again.Tracks[0] != first.Tracks[0] {
		t.Fatal("returning publisher with the same codecs got new tracks")
	}
	again.Close()
	select {
	case <-first.Tracks[0].Done():
	case <-time.After(2 * time.Second):
		t.Fatal("tracks not ended after the publisher left for good")
	}
}

func TestDynamicStreamRemovedWhenUnused(t *testing.T) {
	reg := NewRegistry(testOptions())
	defer reg.Close()
	s := reg.GetOrCreate("pushed")
	publish(t, s, h264Spec).Close()
	eventually(t, "dynamic stream still registered after its publisher left", func() bool { return reg.Get("pushed") == nil })
}

// fakeSource is a Source that counts runs and writes until stopped.
type fakeSource struct {
	runs    atomic.Int32
	running atomic.Int32
	fail    error
}

func (f *fakeSource) Run(ctx context.Context, pub Publisher) error {
	f.runs.Add(1)
	if f.fail != nil {
		return f.fail
	}
	f.running.Add(1)
	defer f.running.Add(-1)
	if _, err := pub.SetTracks([]TrackSpec{h264Spec}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// fakeStream is a registry with one stream "cam" fed by src.
func fakeStream(t *testing.T, src *fakeSource) *Stream {
	t.Helper()
	opts := testOptions()
	opts.Openers = map[string]Opener{"fake": func(SourceSpec) (Source, error) { return src, nil }}
	reg := NewRegistry(opts)
	t.Cleanup(reg.Close)
	s, err := reg.Add("cam", []SourceSpec{{Scheme: "fake", Redacted: "fake:"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSourcesRunOnDemand(t *testing.T) {
	src := &fakeSource{}
	s := fakeStream(t, src)
	if src.runs.Load() != 0 {
		t.Fatal("source ran with nobody watching")
	}
	release := s.Acquire()
	tracks, err := s.WaitTracks(context.Background())
	if err != nil || len(tracks) != 1 {
		t.Fatalf("WaitTracks: %v %v", tracks, err)
	}
	release()
	eventually(t, "source still running after the grace time", func() bool { return src.running.Load() == 0 })
}

func TestFailingSourceReportsWhy(t *testing.T) {
	src := &fakeSource{fail: errors.New("connection refused")}
	s := fakeStream(t, src)
	release := s.Acquire()
	defer release()
	_, err := s.WaitTracks(context.Background())
	if err == nil || !errors.Is(err, src.fail) {
		t.Fatalf("WaitTracks: %v, want the source's error", err)
	}
	eventually(t, "the source did not retry with backoff", func() bool { return src.runs.Load() >= 3 })
	if info := s.Producers()[0]; info.State != StateDown || info.LastError == "" || info.Reconnects == 0 {
		t.Fatalf("producer info %+v, want down with the error", info)
	}
}

func TestSelect(t *testing.T) {
	mk := func(id int, spec TrackSpec) *Track { return newTrack(id, spec) }
	h265 := TrackSpec{Kind: Video, Format: &format.H265{PayloadTyp: 97}}
	aac := TrackSpec{Kind: Audio, Format: &format.MPEG4Audio{PayloadTyp: 98}}
	tracks := []*Track{mk(0, h265), mk(1, h264Spec), mk(2, pcmaSpec), mk(3, aac)}
	cases := []struct {
		query string
		want  []int
	}{
		{"video&audio", []int{0, 2}},
		{"audio&video", []int{2, 0}},
		{"video=all&audio=all", []int{0, 1, 2, 3}},
		{"video=h264", []int{1}},
		{"video=H264,h265", []int{0}},
		{"video=hevc", []int{0}},
		{"mp4", []int{0, 3}},
		{"audio=aac&audio=pcma", []int{3, 2}},
		{"audio=opus", nil},
		{"video", []int{0}},
	}
	for _, c := range cases {
		got, err := Select(tracks, c.query)
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		var ids []int
		for _, g := range got {
			ids = append(ids, g.ID)
		}
		if len(ids) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.query, ids, c.want)
			continue
		}
		for i := range ids {
			if ids[i] != c.want[i] {
				t.Errorf("%q: got %v, want %v", c.query, ids, c.want)
				break
			}
		}
	}
}

func TestKeyDetection(t *testing.T) {
	cases := []struct {
		codec   string
		payload []byte
		want    bool
	}{
		{"H264", []byte{0x65}, true},
		{"H264", []byte{0x41}, false},
		{"H264", []byte{0x78, 0, 2, 0x67, 1, 0, 1, 0x68}, true}, // STAP-A SPS+PPS
		{"H264", []byte{0x7c, 0x85, 1}, true},                   // FU-A start of IDR
		{"H264", []byte{0x7c, 0x05, 1}, false},                  // FU-A middle
		{"H265", []byte{0x26, 0x01, 1}, true},                   // IDR_W_RADL
		{"H265", []byte{0x02, 0x01, 1}, false},                  // TRAIL_R
		{"H265", []byte{0x62, 0x01, 0x93}, true},                // FU start, IDR_W_RADL
		{"MJPEG", []byte{1}, true},
	}
	for _, c := range cases {
		if got := isKeyStart(c.codec, c.payload); got != c.want {
			t.Errorf("%s % x: got %v, want %v", c.codec, c.payload, got, c.want)
		}
	}
}

func TestConcurrentReadersAndWriterRace(t *testing.T) {
	s, pub := published(t, h264Spec)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.NewReader(pub.Tracks)
			defer r.Close()
			drainReader(t, r, 50)
		}()
	}
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pub.WritePacket(pub.Tracks[0], vpkt(uint16(i), uint32(i), idr, true), time.Now(), time.Time{})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	wg.Wait()
	close(stop)
}

// testFrame is a FrameFunc: a marker, the track's ID, the size.
func testFrame(head []byte, t *Track, size int) byte {
	head[0], head[1], head[2], head[3] = 'F', byte(t.ID), byte(size>>8), byte(size)
	return byte(10 + t.ID)
}

func TestConsecutivePacketsAreAdjacentAndFramed(t *testing.T) {
	opts := testOptions()
	opts.Frame = testFrame
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	pub := publish(t, s, h264Spec, pcmaSpec)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	now := time.Now()
	pub.WritePacket(pub.Tracks[0], vpkt(1, 0, idr, true), now, time.Time{})
	pub.WritePacket(pub.Tracks[1], &rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 1}, Payload: []byte{1, 2}}, now, time.Time{})
	got := drainReader(t, r, 2)
	for i, p := range got {
		if p.Framed[0] != 'F' || p.Framed[1] != byte(i) || int(p.Framed[2])<<8|int(p.Framed[3]) != len(p.Data) || string(p.Framed[Headroom:]) != string(p.Data) || p.Tag != byte(10+i) {
			t.Fatalf("packet %d: bad framing % x (tag %d)", i, p.Framed[:Headroom], p.Tag)
		}
	}
	joined, ok := Extend(got[0].Framed, got[1].Framed)
	if !ok || len(joined) != len(got[0].Framed)+len(got[1].Framed) {
		t.Fatal("consecutive packets are not adjacent in memory")
	}
	if _, ok := Extend(got[1].Framed, got[0].Framed); ok {
		t.Fatal("Extend joined packets in the wrong order")
	}
}

// TestRestartedSourceIsNotServedFromOldTracks: after an idle stop, a new
// reader must wait for the source's new attempt, and get its error when the
// camera is gone, not the tracks of the last connection.
func TestRestartedSourceIsNotServedFromOldTracks(t *testing.T) {
	src := &fakeSource{}
	s := fakeStream(t, src)
	release := s.Acquire()
	if _, err := s.WaitTracks(context.Background()); err != nil {
		t.Fatal(err)
	}
	release()
	eventually(t, "source not stopped after the grace time", func() bool { return src.running.Load() == 0 })
	src.fail = errors.New("camera gone")
	release = s.Acquire()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if tracks, err := s.WaitTracks(ctx); err == nil || !errors.Is(err, src.fail) {
		t.Fatalf("WaitTracks after restart: %v, %v; want the camera's error", tracks, err)
	}
}

// TestVideoWithoutMarkerBitsStillFlows: a source that never sets the marker
// bit must not leave readers starving.
func TestVideoWithoutMarkerBitsStillFlows(t *testing.T) {
	s, pub := published(t, h264Spec)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	go func() {
		for i := range 10 {
			pub.WritePacket(pub.Tracks[0], vpkt(uint16(i), uint32(i*3000), idr, false), time.Now(), time.Time{})
			time.Sleep(15 * time.Millisecond)
		}
	}()
	drainReader(t, r, 5)
}

// slowSource connects after a delay with one track of spec.
type slowSource struct {
	delay time.Duration
	spec  TrackSpec
}

func (s *slowSource) Run(ctx context.Context, pub Publisher) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil
	}
	if _, err := pub.SetTracks([]TrackSpec{s.spec}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// TestSeveralSourcesAnswerWithAllTracks: the first reader of a stream with
// two sources gets the tracks of both, not of the quicker one only.
func TestSeveralSourcesAnswerWithAllTracks(t *testing.T) {
	opts := testOptions()
	srcs := map[string]Source{"v": &slowSource{0, h264Spec}, "a": &slowSource{150 * time.Millisecond, pcmaSpec}}
	opts.Openers = map[string]Opener{"fake": func(sp SourceSpec) (Source, error) { return srcs[sp.URL], nil }}
	reg := NewRegistry(opts)
	defer reg.Close()
	s, _ := reg.Add("cam", []SourceSpec{{URL: "v", Scheme: "fake", Redacted: "v"}, {URL: "a", Scheme: "fake", Redacted: "a"}})
	release := s.Acquire()
	defer release()
	tracks, err := s.WaitTracks(context.Background())
	if err != nil || Describe(tracks) != "video H264, audio PCMA" {
		t.Fatalf("WaitTracks: %q %v, want video H264, audio PCMA", Describe(tracks), err)
	}
}

// TestOneWakePerFrame: readers are woken once per video frame, at its end,
// however long the frame takes to arrive.
func TestOneWakePerFrame(t *testing.T) {
	s, pub := published(t, h264Spec)
	r := s.NewReader(pub.Tracks)
	defer r.Close()
	start := time.Now()
	wakes := 0
	for f := range 5 {
		for i := range 4 {
			at := start.Add(time.Duration(f)*40*time.Millisecond + time.Duration(i)*15*time.Millisecond)
			pub.WritePacket(pub.Tracks[0], vpkt(uint16(f*4+i), uint32(f*3600), idr, i == 3), at, time.Time{})
			select {
			case <-r.wake:
				if f == 0 {
					continue // before the first marker bit, the 20 ms rule applies
				}
				wakes++
				if i != 3 {
					t.Fatalf("frame %d: readers woken at packet %d, before the frame's end", f, i)
				}
			default:
			}
		}
	}
	if wakes != 4 {
		t.Fatalf("%d wakes for frames 1-4, want 4", wakes)
	}
}
