package stream

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCam is a Source with the given tracks that counts its runs. It fails
// with err when set; gate, when set, holds SetTracks back until closed.
type fakeCam struct {
	specs   []TrackSpec
	gate    chan struct{}
	runs    atomic.Int32
	running atomic.Int32

	mu   sync.Mutex
	err  error
	drop chan struct{} // closed: the run in progress fails
}

func cam(specs ...TrackSpec) *fakeCam { return &fakeCam{specs: specs, drop: make(chan struct{})} }

func (f *fakeCam) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// dropNow ends the run in progress with an error, as a camera going away.
func (f *fakeCam) dropNow() {
	f.mu.Lock()
	close(f.drop)
	f.drop = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeCam) Run(ctx context.Context, pub Publisher) error {
	f.runs.Add(1)
	f.mu.Lock()
	err, drop := f.err, f.drop
	f.mu.Unlock()
	if err != nil {
		return err
	}
	f.running.Add(1)
	defer f.running.Add(-1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil
		}
	}
	if _, err := pub.SetTracks(f.specs); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-drop:
		return errors.New("camera went away")
	}
}

// camsStream is a stream "cam" whose sources are cams, in order.
func camsStream(t *testing.T, cams ...*fakeCam) *Stream {
	t.Helper()
	opts := testOptions()
	opts.Openers = map[string]Opener{"fake": func(sp SourceSpec) (Source, error) {
		i, _ := strconv.Atoi(sp.URL)
		return cams[i], nil
	}}
	reg := NewRegistry(opts)
	t.Cleanup(reg.Close)
	var specs []SourceSpec
	for i := range cams {
		specs = append(specs, SourceSpec{URL: strconv.Itoa(i), Scheme: "fake", Redacted: "src" + strconv.Itoa(i)})
	}
	s, err := reg.Add("cam", specs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// describe is what a reader's DESCRIBE does: the tracks for query, with
// the sources it needs held meanwhile.
func describe(t *testing.T, s *Stream, query string) []*Track {
	t.Helper()
	release := s.AcquireFor(query)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tracks, err := s.WaitTracksFor(ctx, query)
	if err != nil {
		t.Fatalf("WaitTracksFor(%q): %v", query, err)
	}
	return tracks
}

// states are the producers' states, in source order.
func states(s *Stream) []State {
	var out []State
	for _, p := range s.Producers() {
		out = append(out, p.State)
	}
	return out
}

func runs(cams ...*fakeCam) []int32 {
	var out []int32
	for _, c := range cams {
		out = append(out, c.runs.Load())
	}
	return out
}

func TestVideoReaderConnectsOnlyTheFirstSource(t *testing.T) {
	a, b := cam(h264Spec, pcmaSpec), cam(h264Spec, pcmaSpec)
	s := camsStream(t, a, b)
	tracks := describe(t, s, "video")
	if Describe(tracks) != "video H264" || !slices.Contains(s.Producers()[0].Tracks, tracks[0]) {
		t.Fatalf("got %s, want the first source's video", Describe(tracks))
	}
	r := s.NewReader(tracks)
	if st := states(s); st[1] != StateIdle || b.runs.Load() != 0 {
		t.Fatalf("second source started for a video reader: %v, runs %v", st, runs(a, b))
	}
	r.Close()
	eventually(t, "first source still running after its reader left", func() bool { return a.running.Load() == 0 })
	if n := b.runs.Load(); n != 0 {
		t.Fatalf("second source ran %d times", n)
	}
}

func TestAudioReaderConnectsTheFirstSourceWithAudio(t *testing.T) {
	a, b, c := cam(h264Spec), cam(h264Spec, pcmuSpec), cam(pcmaSpec)
	s := camsStream(t, a, b, c)
	// a's tracks are unknown until it connected once
	tracks := describe(t, s, "audio")
	if Describe(tracks) != "audio PCMU" {
		t.Fatalf("got %s, want the second source's PCMU", Describe(tracks))
	}
	r := s.NewReader(tracks)
	if got := runs(a, b, c); got[0] != 1 || got[1] != 1 || got[2] != 0 || states(s)[2] != StateIdle {
		t.Fatalf("runs %v, states %v; want the third source never started", got, states(s))
	}
	// a has nothing the reader takes: it goes after the grace time, b stays
	eventually(t, "the video-only source still running", func() bool { return a.running.Load() == 0 })
	if b.running.Load() != 1 {
		t.Fatal("the reader's source stopped")
	}
	r.Close()
	eventually(t, "the audio source still running after its reader left", func() bool { return b.running.Load() == 0 })

	// now a's tracks are known: an audio reader does not connect it again
	r = s.NewReader(describe(t, s, "audio"))
	defer r.Close()
	if got := runs(a, b, c); got[0] != 1 || got[1] != 2 || got[2] != 0 || states(s)[0] != StateIdle {
		t.Fatalf("runs %v, states %v; want only the second source connected again", got, states(s))
	}
}

func TestDefaultQueryTakesEachKindFromTheFirstSourceWithIt(t *testing.T) {
	a, b, c := cam(h264Spec), cam(pcmuSpec), cam(h264Spec, pcmaSpec)
	s := camsStream(t, a, b, c)
	tracks := describe(t, s, "video&audio")
	if Describe(tracks) != "video H264, audio PCMU" {
		t.Fatalf("got %s", Describe(tracks))
	}
	if got := runs(a, b, c); got[0] != 1 || got[1] != 1 || got[2] != 0 || states(s)[2] != StateIdle {
		t.Fatalf("runs %v, states %v; want the third source never started", got, states(s))
	}

	// a source that has both serves both alone
	d, e := cam(h264Spec, pcmaSpec), cam(pcmuSpec)
	s = camsStream(t, d, e)
	if tracks := describe(t, s, "video&audio"); Describe(tracks) != "video H264, audio PCMA" {
		t.Fatalf("got %s", Describe(tracks))
	}
	if got := runs(d, e); got[0] != 1 || got[1] != 0 || states(s)[1] != StateIdle {
		t.Fatalf("runs %v, states %v; want the second source never started", got, states(s))
	}
}

func TestFailedSourceGivesWayToTheNext(t *testing.T) {
	a, b := cam(h264Spec), cam(h264Spec)
	a.setErr(errors.New("connection refused"))
	s := camsStream(t, a, b)
	tracks := describe(t, s, "video")
	if !slices.Contains(s.Producers()[1].Tracks, tracks[0]) {
		t.Fatalf("got %s, not the second source's", Describe(tracks))
	}
	r := s.NewReader(tracks)
	// the failed source is let go after the grace time; the reader keeps b
	eventually(t, "the failed source still retrying with no one needing it", func() bool { return states(s)[0] == StateIdle })
	if states(s)[1] != StateOnline {
		t.Fatalf("states %v", states(s))
	}
	r.Close()

	// a source known to have video that is down now: the next one serves
	c, d := cam(h264Spec), cam(h264Spec)
	s = camsStream(t, c, d)
	r = s.NewReader(describe(t, s, "video"))
	defer r.Close()
	c.setErr(errors.New("camera gone"))
	c.dropNow()
	eventually(t, "the first source not down", func() bool { return states(s)[0] == StateDown })
	tracks = describe(t, s, "video")
	if !slices.Contains(s.Producers()[1].Tracks, tracks[0]) || states(s)[1] != StateOnline {
		t.Fatalf("got %s, runs %v; want the second source's video", Describe(tracks), runs(c, d))
	}
}

func TestWaitTracksForWaitsOnlyForTheSourcesItNeeds(t *testing.T) {
	a, b := cam(h264Spec), cam(pcmaSpec)
	b.gate = make(chan struct{}) // connects when the test ends
	defer close(b.gate)
	s := camsStream(t, a, b)
	all := s.Acquire() // the probe: every source
	defer all()
	release := s.AcquireFor("video")
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tracks, err := s.WaitTracksFor(ctx, "video")
	if err != nil || Describe(tracks) != "video H264" {
		t.Fatalf("WaitTracksFor: %s %v", Describe(tracks), err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitTracksFor waited for a source the query does not need")
	}
	if st := states(s); st[1] != StateConnecting {
		t.Fatalf("states %v, want the audio source still connecting", st)
	}
}

func TestReaderHoldsOnlyTheSourcesOfItsTracks(t *testing.T) {
	a, b := cam(h264Spec), cam(pcmaSpec)
	s := camsStream(t, a, b)
	all := s.Acquire()
	if _, err := s.WaitTracks(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := s.NewReader(s.Producers()[1].Tracks)
	defer r.Close()
	all()
	eventually(t, "the source no reader reads still running", func() bool { return a.running.Load() == 0 })
	if b.running.Load() != 1 {
		t.Fatal("the reader's source stopped")
	}
}

func TestWaitTracksForErrors(t *testing.T) {
	s := camsStream(t, cam(h264Spec, pcmaSpec))
	release := s.AcquireFor("audio=opus")
	defer release()
	if _, err := s.WaitTracksFor(context.Background(), "audio=opus"); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("audio=opus: %v, want ErrNoMatch", err)
	}
	if _, err := s.WaitTracksFor(context.Background(), "video=%zz"); !errors.Is(err, ErrBadQuery) {
		t.Fatalf("bad escape: %v, want ErrBadQuery", err)
	}
	failing := cam(h264Spec)
	failing.setErr(errors.New("connection refused"))
	s = camsStream(t, failing)
	release = s.AcquireFor("video")
	defer release()
	if _, err := s.WaitTracksFor(context.Background(), "video"); err == nil || !errors.Is(err, failing.err) {
		t.Fatalf("failing source: %v, want its error", err)
	}
}
