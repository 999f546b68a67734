package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/rtp"
)

// State is the health of one producer of a stream.
type State string

// Producer states.
const (
	StateIdle       State = "idle"       // not needed by anyone
	StateConnecting State = "connecting" // first attempt under way
	StateOnline     State = "online"     // tracks set, packets flowing
	StateDown       State = "down"       // failed; retrying with backoff
)

// ProducerInfo is what a producer shows about itself (API, logs).
type ProducerInfo struct {
	Source     string // redacted
	State      State
	Since      time.Time
	LastError  string
	Reconnects int
	// Lost counts RTP packets the source numbered and never sent us (RFC
	// 3550 sequence gaps; a reconnect is no loss), over all its connections.
	Lost uint64
	// JitterMS is the largest interarrival jitter of its tracks now (RFC
	// 3550 §6.4.1), in milliseconds.
	JitterMS float64
	// Quirks are the camera quirks met (Quirk* and the sources'), sorted.
	Quirks []string
	Tracks []*Track
	// Sinks are what the origin takes back (its backchannel); SinkNote says
	// why there are none when it has one that cannot be used.
	Sinks    []SinkSpec
	SinkNote string
}

// producer feeds tracks into a stream: a configured source that is run on
// demand, or an ingest publisher (src == nil).
type producer struct {
	s    *Stream
	name string // redacted source or publisher address
	src  Source

	// guarded by s.mu
	tracks     []*Track
	state      State
	since      time.Time
	lastErr    error
	reconnects int
	wasOnline  bool // connected at least once since start: a failure now is a reconnect
	cancel     context.CancelFunc
	done       chan struct{}
	active     bool // publisher only: the publisher is connected
	busy       bool // the last failure was ErrBusy: worth waiting for
	sinks      []SinkSpec
	sinkNote   string
	quirks     map[string]struct{} // reported by the source
	holds      int                 // readers and others that need it (demand.go)
	holdGen    int                 // counts holds: an idle timer of an older generation is void
	idleTimer  *time.Timer
	// what tracks it no longer has counted, so totals never go back
	goneLost   uint64
	goneQuirks uint8
}

// busyBackoff is the first retry delay after ErrBusy; it doubles up to 8x.
const busyBackoff = 250 * time.Millisecond

func (p *producer) setState(st State, err error) {
	if p.state != st {
		p.since = time.Now()
	}
	p.state = st
	p.lastErr = err
}

func (p *producer) info() ProducerInfo {
	pi := ProducerInfo{Source: p.name, State: p.state, Since: p.since, Reconnects: p.reconnects, Tracks: append([]*Track(nil), p.tracks...),
		Sinks: append([]SinkSpec(nil), p.sinks...), SinkNote: p.sinkNote}
	if p.lastErr != nil {
		pi.LastError = p.lastErr.Error()
	}
	p.healthLocked(&pi)
	return pi
}

// start runs the source until stop; s.mu held.
func (p *producer) start() {
	if p.src == nil || p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	prev := p.done
	done := make(chan struct{})
	p.done = done
	p.wasOnline = false
	p.setState(StateConnecting, nil)
	go func() {
		if prev != nil {
			<-prev // never two connections of one source at once
		}
		p.run(ctx, done)
	}()
}

// stop ends the source; s.mu held. It does not wait.
func (p *producer) stop() chan struct{} {
	if p.cancel == nil {
		return nil
	}
	p.stopLocked()
	return p.done
}

// stopLocked cancels the run and marks the producer idle; s.mu held.
func (p *producer) stopLocked() {
	if p.cancel != nil {
		p.cancel()
		p.cancel = nil
	}
	p.busy = false
	p.setState(StateIdle, nil)
}

func (p *producer) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	log := p.s.log.With("source", p.name)
	backoff := p.s.opts.MinBackoff
	busyTries := 0
	for {
		began := time.Now()
		log.Debug("source connecting")
		err := p.src.Run(ctx, &runPublisher{p: p, ctx: ctx})
		if err == nil {
			err = errors.New("source ended")
		}
		if time.Since(began) > p.s.opts.MaxBackoff {
			backoff = p.s.opts.MinBackoff
		}
		busy := errors.Is(err, ErrBusy)
		p.s.mu.Lock()
		if ctx.Err() != nil { // stopped: a newer run may own the state now
			p.s.mu.Unlock()
			log.Debug("source stopped")
			return
		}
		if errors.Is(err, ErrYielded) && p.holds == 0 {
			p.stopLocked()
			p.s.changedLocked()
			p.s.mu.Unlock()
			log.Info("source disconnected for another stream of the same camera", "reason", err)
			return
		}
		p.setState(StateDown, err)
		p.busy = busy
		p.reconnects++
		p.s.changedLocked()
		p.s.mu.Unlock()
		wait := backoff
		if busy {
			// the camera is at its session limit: try again soon, a
			// reader may be waiting
			wait = min(busyBackoff<<min(busyTries, 3), backoff)
			busyTries++
		} else {
			busyTries = 0
			backoff = min(backoff*2, p.s.opts.MaxBackoff)
		}
		level := slog.LevelWarn
		if busy && busyTries > 1 {
			level = slog.LevelDebug // said once; a reader may be waiting
		}
		log.Log(ctx, level, "source failed, retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// runPublisher is the Publisher one run of a source writes to: once the run
// is stopped, what it still sends is refused, so a late connection of a
// stopped run cannot touch the state of the next one.
type runPublisher struct {
	p   *producer
	ctx context.Context
}

func (rp *runPublisher) Wanted() bool {
	rp.p.s.mu.Lock()
	defer rp.p.s.mu.Unlock()
	return rp.p.holds > 0 && rp.ctx.Err() == nil
}

func (rp *runPublisher) SetSinks(sinks []SinkSpec, note string) {
	rp.p.s.mu.Lock()
	defer rp.p.s.mu.Unlock()
	if rp.ctx.Err() == nil {
		rp.p.sinks, rp.p.sinkNote = append([]SinkSpec(nil), sinks...), note
	}
}

// Quirk is taken from stopped runs too: it is a fact about the camera, not
// state of the run.
func (rp *runPublisher) Quirk(name string) {
	rp.p.s.mu.Lock()
	defer rp.p.s.mu.Unlock()
	if rp.p.quirks == nil {
		rp.p.quirks = map[string]struct{}{}
	}
	rp.p.quirks[name] = struct{}{}
}

func (rp *runPublisher) SetTracks(specs []TrackSpec) ([]*Track, error) {
	return rp.p.setTracks(rp.ctx, specs)
}

func (rp *runPublisher) WritePacket(t *Track, pkt *rtp.Packet, now, srcNTP time.Time) {
	if rp.ctx.Err() == nil {
		rp.p.s.write(t, pkt, now, srcNTP)
	}
}

func (p *producer) setTracks(ctx context.Context, specs []TrackSpec) ([]*Track, error) {
	if len(specs) == 0 {
		return nil, errors.New("no tracks")
	}
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	same := len(specs) == len(p.tracks)
	for i := 0; same && i < len(specs); i++ {
		same = p.tracks[i].Spec().sameAs(specs[i]) && !p.tracks[i].closed()
	}
	src := &sourceClock{}
	if same {
		s.wmu.Lock()
		for i, t := range p.tracks {
			t.resync = true
			t.src = src
			if !sameParams(t.Format(), specs[i].Format) {
				// a new resolution, say: new readers get the new SDP, those
				// here get the parameter sets in band before the next
				// keyframe
				t.setFormat(specs[i].Format)
				s.log.Info("track parameters changed", "source", p.name, "track", string(t.Kind)+" "+t.Codec())
			}
		}
		s.wmu.Unlock()
	} else {
		if len(p.tracks) > 0 {
			s.log.Info("tracks changed, readers of the old tracks are closed", "source", p.name)
		}
		tracks := make([]*Track, len(specs))
		for i, sp := range specs {
			if sp.Format == nil {
				return nil, fmt.Errorf("track %d has no format", i)
			}
			tracks[i] = newTrack(s.nextTrackID, sp)
			tracks[i].src = src
			s.nextTrackID++
		}
		s.wmu.Lock()
		p.retireLocked(p.tracks)
		for _, t := range p.tracks {
			t.close() // with the counters kept: no write slips in between
		}
		s.wmu.Unlock()
		p.tracks = tracks
	}
	p.setState(StateOnline, nil)
	p.wasOnline = true
	if p.src != nil {
		s.log.Info("source connected", "source", p.name, "tracks", Describe(p.tracks))
	}
	s.changedLocked()
	s.notifyReaders()
	return append([]*Track(nil), p.tracks...), nil
}
