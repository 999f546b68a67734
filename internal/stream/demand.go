package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rtspgate/rtspgate/internal/stream/codecfilter"
)

// Sources connect only when someone needs their tracks. A reader's query
// picks tracks in its order, the first source with the codec serving it, so
// the sources it needs are found in source order: a source counts with the
// tracks it has or had at its last connection; one never connected yet is
// connected (and waited for) before any later one is considered; one that
// is down gives way to the next with that kind of track. A reader then
// holds only the sources of its tracks. Each source stops a grace time
// after its last hold ends.

// demand is one AcquireFor: the sources a reader of its query needs now.
// It is planned again whenever the stream's producers change.
type demand struct {
	picks []codecfilter.Pick
	held  []*producer
}

// AcquireFor marks as wanted the sources a reader of query needs, as
// WaitTracksFor finds them, and connects them. As sources connect or fail,
// the choice follows (the next source is connected, one no longer needed
// is let go). Call the returned function once when done. A bad query needs
// no source (WaitTracksFor says what is wrong with it).
func (s *Stream) AcquireFor(query string) (release func()) {
	picks, _ := parsePicks(query)
	d := &demand{picks: picks}
	s.mu.Lock()
	if !s.isClosed {
		s.demands = append(s.demands, d)
		s.planDemandLocked(d)
	}
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.demands = slices.DeleteFunc(s.demands, func(x *demand) bool { return x == d })
			for _, p := range d.held {
				p.unhold()
			}
			d.held = nil
		})
	}
}

// WaitTracksFor returns the tracks a reader of query gets, in the query's
// order, once the sources it needs have had their say (or ctx ends: then
// what there is). Call it while holding AcquireFor(query) or Acquire. The
// errors: ErrBadQuery, ErrNoMatch (the stream has no such track), or why
// the sources that could serve it cannot.
func (s *Stream) WaitTracksFor(ctx context.Context, query string) ([]*Track, error) {
	picks, err := parsePicks(query)
	if err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		pl := s.planLocked(picks)
		var known []*Track
		for _, p := range s.allLocked() {
			known = append(known, p.knownTracks()...)
		}
		ch := s.changed
		s.mu.Unlock()
		if pl.ready {
			return pl.result(picks, query, known)
		}
		select {
		case <-ch:
		case <-s.closed:
			return nil, ErrStreamClosed
		case <-ctx.Done():
			return pl.result(picks, query, known)
		}
	}
}

// Hold keeps the sources of tracks connected until release is called once
// (a reader holds the sources its tracks come from, not the others).
func (s *Stream) Hold(tracks []*Track) (release func()) {
	s.mu.Lock()
	var held []*producer
	for _, p := range s.producers {
		for _, t := range tracks {
			if slices.Contains(p.tracks, t) {
				p.hold()
				held = append(held, p)
				break
			}
		}
	}
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.release(held) }) }
}

// hold marks p as needed and starts it; s.mu held.
func (p *producer) hold() {
	p.holds++
	p.holdGen++
	if p.idleTimer != nil {
		p.idleTimer.Stop()
		p.idleTimer = nil
	}
	if !p.s.isClosed {
		p.start()
	}
}

// unhold drops one hold; the last one starts the grace time. s.mu held.
func (p *producer) unhold() {
	p.holds--
	if p.holds > 0 || p.s.isClosed {
		return
	}
	gen := p.holdGen
	p.idleTimer = time.AfterFunc(p.s.opts.Grace, func() { p.s.idle(p, gen) })
}

// knownTracks are p's tracks now, or those of its last connection.
func (p *producer) knownTracks() []*Track {
	var out []*Track
	for _, t := range p.tracks {
		if !t.closed() {
			out = append(out, t)
		}
	}
	return out
}

// replanLocked plans every demand again; s.mu held.
func (s *Stream) replanLocked() {
	for _, d := range s.demands {
		s.planDemandLocked(d)
	}
}

// planDemandLocked holds what d needs now and lets go of the rest; s.mu
// held.
func (s *Stream) planDemandLocked(d *demand) {
	need := s.planLocked(d.picks).need
	for _, p := range need {
		if !slices.Contains(d.held, p) {
			p.hold()
		}
	}
	for _, p := range d.held {
		if !slices.Contains(need, p) {
			p.unhold()
		}
	}
	d.held = need
}

// plan is which sources a query needs, given what is known of them.
type plan struct {
	need  []*producer // to hold (and so to connect)
	live  []*Track    // the live tracks of the sources that serve, publisher first
	ready bool        // every source that may serve has had its say
	errs  []error     // of needed sources that are down
	noPub bool        // the stream waits for a publisher, having no sources
}

// planLocked walks the sources in order (the publisher first) and finds
// those the picks need; s.mu held.
func (s *Stream) planLocked(picks []codecfilter.Pick) plan {
	var pl plan
	var counted []*Track // the tracks of the sources that serve, or will
	connecting := false  // a needed source has not had its say yet
	waitDown := false    // a needed source is reconnecting or busy
	if p := s.publisher; p != nil && p.active {
		counted = p.knownTracks()
		pl.live = slices.Clone(counted)
	}
	pl.noPub = len(s.producers) == 0 && len(pl.live) == 0
walk:
	for _, p := range s.producers {
		known := p.knownTracks()
		_, open := pick(counted, picks)
		if len(known) == 0 {
			// never connected: only connecting tells what it has
			if !open {
				continue
			}
		} else {
			sel, _ := pick(slices.Concat(counted, known), picks)
			if !slices.ContainsFunc(sel, func(t *Track) bool { return slices.Contains(known, t) }) {
				continue // it has nothing the picks take
			}
		}
		pl.need = append(pl.need, p)
		switch p.state {
		case StateOnline:
			counted = append(counted, known...)
			pl.live = append(pl.live, known...)
		case StateDown:
			// the next source with such a track serves meanwhile; keep
			// this one trying
			if p.lastErr != nil {
				pl.errs = append(pl.errs, fmt.Errorf("%s: %w", p.name, p.lastErr))
			}
			waitDown = waitDown || p.wasOnline || p.busy
		default: // connecting, or idle and started by the hold
			connecting = true
			if len(known) == 0 {
				break walk // what it has decides what comes next
			}
			counted = append(counted, known...) // as it had last time
		}
	}
	_, open := pick(counted, picks)
	// a source that was online and is reconnecting, or is busy, is waited
	// for only when nothing else serves what it may bring
	pl.ready = !connecting && !(open && waitDown) && !pl.noPub
	return pl
}

// result is what WaitTracksFor answers from pl.
func (pl plan) result(picks []codecfilter.Pick, query string, known []*Track) ([]*Track, error) {
	if sel, _ := pick(pl.live, picks); len(sel) > 0 {
		return sel, nil
	}
	switch {
	case len(pl.errs) > 0:
		return nil, errors.Join(pl.errs...)
	case pl.noPub:
		return nil, ErrNoPublisher
	case !pl.ready:
		return nil, ErrNotConnected
	}
	return nil, fmt.Errorf("%w %q (the stream has %s)", ErrNoMatch, query, Describe(known))
}
