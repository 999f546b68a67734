// Package stream is the protocol-free core of rtspgate: named streams, their
// tracks, the producers that feed them (sources run on demand, or an ingest
// publisher) and the fan-out of packets to any number of readers.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Errors of stream operations.
var (
	ErrPublisherBusy = errors.New("the stream already has a publisher")
	ErrNoPublisher   = errors.New("no publisher yet")
	ErrNotConnected  = errors.New("source not connected yet")
)

// flushEvery bounds how long a packet of video without marker bits waits
// before readers are woken for it.
const flushEvery = 20 * time.Millisecond

// staleAfter is how long a stream may go without packets before its last
// group of pictures is no longer given to new readers.
const staleAfter = time.Second

// audioWait bounds how long audio of a stream with video waits for the
// next video frame end to wake readers: at usual frame rates it never
// does, so audio adds no write of its own per reader (a wake of its own
// per frame would double the system calls of the fan-out); below 10 fps
// audio is sent at least every 100 ms.
const audioWait = 100 * time.Millisecond

// Stream is one named stream.
type Stream struct {
	Name    string
	dynamic bool // created by a publisher, removed when it is gone
	opts    *Options
	log     *slog.Logger
	onEmpty func(*Stream)

	mu          sync.Mutex
	producers   []*producer
	publisher   *producer
	pubTimer    *time.Timer
	demands     []*demand // AcquireFor's, re-planned when producers change
	nextTrackID int
	changed     chan struct{} // closed and replaced when producers change
	closed      chan struct{}
	isClosed    bool
	// isClosedFast mirrors isClosed for readers, without the lock
	isClosedFast atomic.Bool

	wmu      sync.Mutex // the packet path
	ring     *ring
	slab     slab
	lastWake time.Time
	lastPush time.Time // arrival of the newest packet in the ring
	hasVideo bool
	ctr      streamCounters
	// keyTracks are the video tracks that had a keyframe: the ring keeps
	// packets from the oldest of their last keyframes on (keep)
	keyTracks []*Track
	keep      uint64
	// gopTooBig: a new reader found its keyframe let go, logged once
	gopTooBig bool
	released  bool // the slab's blocks went back to the pool

	rmu     sync.Mutex // serialises changes of readers
	readers atomic.Pointer[[]*Reader]
}

func newStream(name string, opts *Options, sources []Source, names []string) *Stream {
	s := &Stream{
		Name:    name,
		opts:    opts,
		log:     opts.Logger.With("stream", name),
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
		ring:    newRing(opts.BufferSize, opts.Lag),
	}
	s.slab = slab{pool: blocks, free: s.freeBefore, most: 2*opts.BufferSize/slabSize + 2}
	empty := []*Reader{}
	s.readers.Store(&empty)
	for i, src := range sources {
		s.producers = append(s.producers, &producer{s: s, src: src, name: names[i], state: StateIdle, since: time.Now()})
	}
	return s
}

// changedLocked wakes everyone waiting for tracks; s.mu held.
func (s *Stream) changedLocked() {
	s.replanLocked()
	close(s.changed)
	s.changed = make(chan struct{})
	hasVideo := false
	for _, p := range s.allLocked() {
		for _, t := range p.tracks {
			hasVideo = hasVideo || t.Kind == Video && !t.closed()
		}
	}
	s.wmu.Lock()
	s.hasVideo = hasVideo
	s.wmu.Unlock()
}

func (s *Stream) allLocked() []*producer {
	if s.publisher == nil {
		return s.producers
	}
	return append([]*producer{s.publisher}, s.producers...)
}

// Acquire marks every source of the stream as wanted: they connect if they
// are not connected yet. It is for those that need every track (the probe,
// a talker); a reader's DESCRIBE takes AcquireFor, a reader Hold. Call the
// returned function once when no longer needed; a source stops a grace time
// after its last release.
func (s *Stream) Acquire() (release func()) {
	s.mu.Lock()
	held := append([]*producer(nil), s.producers...)
	for _, p := range held {
		p.hold()
	}
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.release(held) }) }
}

// release drops one hold on each of held.
func (s *Stream) release(held []*producer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range held {
		p.unhold()
	}
}

// idle stops p once the grace time after its last release has passed with
// no new hold.
func (s *Stream) idle(p *producer, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.holds > 0 || s.isClosed || gen != p.holdGen {
		return
	}
	p.idleTimer = nil
	if p.stop() != nil {
		s.log.Info("source not needed any more, disconnected", "source", p.name)
	}
}

// WaitTracks returns the stream's current tracks once every running source
// has had its first try (or ctx ends). Call it while holding Acquire.
func (s *Stream) WaitTracks(ctx context.Context) ([]*Track, error) {
	for {
		s.mu.Lock()
		tracks, ready, why := s.tracksLocked()
		ch := s.changed
		s.mu.Unlock()
		if ready {
			if len(tracks) == 0 {
				return nil, why
			}
			return tracks, nil
		}
		select {
		case <-ch:
		case <-s.closed:
			return nil, ErrStreamClosed
		case <-ctx.Done():
			if len(tracks) > 0 {
				return tracks, nil
			}
			return nil, why
		}
	}
}

// tracksLocked returns the tracks a new reader may get, whether every
// producer has had its say, and why there are none. A source counts once it
// is online; a first attempt under way, or a reconnect of a source that was
// online, is waited for; a source that failed since it was started is a
// reason to refuse. A publisher counts while connected.
func (s *Stream) tracksLocked() (tracks []*Track, ready bool, why error) {
	ready = true
	var errs []error
	live := func(p *producer) {
		for _, t := range p.tracks {
			if !t.closed() {
				tracks = append(tracks, t)
			}
		}
	}
	if p := s.publisher; p != nil && p.active {
		live(p)
	}
	for _, p := range s.producers {
		switch {
		case p.state == StateOnline:
			live(p)
		case p.state == StateConnecting, p.state == StateDown && (p.wasOnline || p.busy):
			ready = false
		}
		if p.state == StateDown && p.lastErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, p.lastErr))
		}
	}
	if len(tracks) > 0 {
		// several sources: the SDP a reader gets must hold them all, so
		// wait for the ones still connecting (WaitTracks gives up at its
		// deadline with what there is)
		return tracks, ready, nil
	}
	if len(s.producers) == 0 {
		// only a publisher can bring tracks: wait for one
		return nil, false, ErrNoPublisher
	}
	if len(errs) == 0 {
		errs = append(errs, ErrNotConnected)
	}
	return nil, ready, errors.Join(errs...)
}

// Tracks returns the live tracks without waiting.
func (s *Stream) Tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, _, _ := s.tracksLocked()
	return t
}

// Producers describes the stream's producers (publisher first).
func (s *Stream) Producers() []ProducerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ProducerInfo
	for _, p := range s.allLocked() {
		out = append(out, p.info())
	}
	return out
}

// Closed reports whether the stream was removed or shut down.
func (s *Stream) Closed() bool { return s.isClosedFast.Load() }

// ReaderCount is the number of readers now.
func (s *Stream) ReaderCount() int { return len(*s.readers.Load()) }

// Publication is an ingest publisher's hold on a stream.
type Publication struct {
	p      *producer
	Tracks []*Track
}

// Publish makes who the stream's publisher with the given tracks. It fails
// with ErrPublisherBusy while another publisher is connected.
func (s *Stream) Publish(specs []TrackSpec, who string) (*Publication, error) {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return nil, ErrStreamClosed
	}
	if s.publisher != nil && s.publisher.active {
		s.mu.Unlock()
		return nil, ErrPublisherBusy
	}
	if s.pubTimer != nil {
		s.pubTimer.Stop()
		s.pubTimer = nil
	}
	p := s.publisher
	if p == nil {
		p = &producer{s: s}
		s.publisher = p
	}
	p.name = "publisher " + who
	p.active = true
	s.mu.Unlock()
	tracks, err := p.setTracks(context.Background(), specs)
	if err != nil {
		s.mu.Lock()
		p.active = false
		if len(p.tracks) == 0 && s.publisher == p {
			s.publisher = nil
			s.maybeRemoveLocked()
		}
		s.mu.Unlock()
		return nil, err
	}
	return &Publication{p: p, Tracks: tracks}, nil
}

// WritePacket writes one packet of t that arrived at now; srcNTP is the
// publisher's NTP time of it from its sender reports, or zero.
func (pb *Publication) WritePacket(t *Track, pkt *rtp.Packet, now, srcNTP time.Time) {
	pb.p.s.write(t, pkt, now, srcNTP)
}

// Close ends the publication. Its tracks wait PublisherGrace for a new
// publisher with the same codecs, then end.
func (pb *Publication) Close() {
	s := pb.p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !pb.p.active || s.publisher != pb.p {
		return
	}
	pb.p.active = false
	pb.p.setState(StateDown, errors.New("publisher left"))
	s.pubTimer = time.AfterFunc(s.opts.PublisherGrace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.publisher != pb.p || pb.p.active {
			return
		}
		for _, t := range pb.p.tracks {
			t.close()
		}
		s.publisher = nil
		s.changedLocked()
		s.notifyReaders()
		s.maybeRemoveLocked()
	})
}

// maybeRemoveLocked drops a dynamic stream whose publisher is gone for good;
// readers still waiting for it are told it is closed. s.mu held.
func (s *Stream) maybeRemoveLocked() {
	if s.dynamic && s.publisher == nil && s.onEmpty != nil {
		go s.onEmpty(s)
	}
}

// write is the packet path: rewrite, marshal once, publish to the ring and
// wake readers at frame ends. srcNTP is the source's own NTP time of the
// packet, or zero.
func (s *Stream) write(t *Track, pkt *rtp.Packet, now, srcNTP time.Time) {
	s.wmu.Lock()
	wake := s.appendLocked(t, pkt, now, srcNTP)
	s.wmu.Unlock()
	if wake {
		s.notifyReaders()
	}
}

// appendLocked puts pkt into the ring and says whether readers are to be
// woken; s.wmu held.
func (s *Stream) appendLocked(t *Track, pkt *rtp.Packet, now, srcNTP time.Time) (wake bool) {
	s.ctr.packetsIn++
	if t.closed() {
		s.ctr.bytesIn += uint64(pkt.MarshalSize())
		s.dropLocked(&s.ctr.ended, DropTrackEnded, t, now)
		return false
	}
	if t.resync {
		t.rx.restart() // a new connection numbers afresh: no loss
		// the last keyframe is of the connection before: a new reader
		// must not start with pictures from before the gap
		t.hasKey = false
		s.keyTracks = slices.DeleteFunc(s.keyTracks, func(o *Track) bool { return o == t })
	}
	t.rx.packet(pkt.SequenceNumber, pkt.Timestamp, now, t.clock.rate)
	t.rewrite(pkt, now)
	wall := t.clock.at(pkt.Timestamp, now, srcNTP, t.src)
	key := true
	// wake readers at the end of a video frame; audio, and video from a
	// source that never sets the marker bit, when a frame starts or at
	// least every 20 ms
	if t.Kind == Video {
		auStart := t.auStart
		key = auStart && isKeyStart(t.codec, pkt.Payload)
		if key && t.params.missing(t.codec, pkt.Payload) {
			// parameter sets go in front of the keyframe, which is then
			// no longer where a reader starts
			if t.sdpParams {
				// (without them in the SDP, they came in band, just not
				// with this keyframe: not "only in the SDP")
				s.quirkLocked(t, quirkParamsInSDP)
			}
			for _, pl := range t.params.payloads(t.codec) {
				ps := &rtp.Packet{Header: pkt.Header, Payload: pl}
				ps.Marker = false
				ps.Extension, ps.Extensions = false, nil
				ps.Padding = false // pushLocked clears its size
				ps.SequenceNumber = t.insertBefore(pkt)
				s.pushSplitLocked(t, ps, pkt, now, wall, key)
				key = false
			}
		}
		t.params.observe(t.codec, pkt.Payload)
		t.auStart = pkt.Marker || auStart && isPrefix(t.codec, pkt.Payload)
		t.sawMarker = t.sawMarker || pkt.Marker
		s.noteVideoLocked(t, now)
		wake = pkt.Marker || !t.sawMarker && (auStart || now.Sub(s.lastWake) >= flushEvery)
	} else {
		wake = !s.hasVideo || now.Sub(s.lastWake) >= audioWait
	}
	size, ok := s.pushSplitLocked(t, pkt, pkt, now, wall, key)
	s.ctr.bytesIn += uint64(size)
	if !ok {
		return false
	}
	if wake {
		s.lastWake = now
	}
	return wake
}

// pushLocked marshals pkt once, behind Headroom bytes of framing, into the
// slab and puts it into the ring; it returns pkt's size and false when it
// was dropped (counted). s.wmu held.
func (s *Stream) pushLocked(t *Track, pkt *rtp.Packet, now, wall time.Time, key bool) (size int, ok bool) {
	if !pkt.Padding {
		// MarshalTo would count padding bytes it does not write (pion keeps
		// the size in two fields): whatever the slab held there would go out
		pkt.Header.PaddingSize, pkt.PaddingSize = 0, 0
	}
	size = pkt.MarshalSize()
	if size > 0xffff {
		s.dropLocked(&s.ctr.tooBig, DropTooBig, t, now) // cannot be framed for TCP readers
		return size, false
	}
	buf := s.slab.alloc(Headroom+size, s.ring.head.Load())
	if _, err := pkt.MarshalTo(buf[Headroom:]); err != nil {
		s.dropLocked(&s.ctr.marshal, DropMarshal, t, now)
		return size, false
	}
	data := buf[Headroom : Headroom+size : Headroom+size]
	hs := pkt.Header.MarshalSize()
	p := &Packet{Track: t, Data: data, Time: now, Wall: wall, Key: key, Timestamp: pkt.Timestamp,
		payload: uint16(hs), payloadEnd: uint16(hs + len(pkt.Payload))}
	if s.opts.Frame != nil {
		p.Tag = s.opts.Frame(buf[:Headroom], t, size)
		p.Framed = buf
	}
	if key && t.Kind == Video {
		s.keyLocked(t, s.ring.head.Load())
	}
	s.lastPush = now
	s.ring.push(p, len(buf), s.keep)
	return size, true
}

// keyLocked records that the packet about to get index idx starts a
// keyframe of t, and moves keep to the oldest last keyframe of the stream's
// live video tracks. s.wmu held.
func (s *Stream) keyLocked(t *Track, idx uint64) {
	if !t.hasKey {
		t.hasKey = true
		s.keyTracks = append(s.keyTracks, t)
	}
	t.lastKey = idx
	s.keyTracks = slices.DeleteFunc(s.keyTracks, (*Track).closed)
	keep := idx
	for _, o := range s.keyTracks {
		keep = min(keep, o.lastKey)
	}
	s.keep = keep
}

// startLocked is where a new reader of tracks begins: the last keyframe
// held of its video tracks (the oldest of them, so that each starts at a
// keyframe), or the head when it has no video, the cache is off, or a
// keyframe was let go (then video waits for the next one). s.wmu held.
func (s *Stream) startLocked(tracks []*Track, cache bool) uint64 {
	head := s.ring.head.Load()
	start := head
	// a stream that went quiet (its source stopped for want of readers, or
	// the camera stalls) holds pictures of the past, not a head start
	if !cache || s.isClosedFast.Load() || time.Since(s.lastPush) > staleAfter {
		return head
	}
	for _, t := range tracks {
		if t.Kind != Video {
			continue
		}
		if !t.hasKey {
			return head
		}
		if !s.ring.holds(t.lastKey) {
			if !s.gopTooBig {
				s.gopTooBig = true
				s.log.Warn("the last group of pictures does not fit the stream's buffer: new readers wait for the next keyframe",
					"track", t.ID, "buffer_bytes", s.ring.max)
			}
			return head
		}
		start = min(start, t.lastKey)
	}
	return start
}

// freeBefore reports whether every packet before ring index i is gone from
// the ring and no reader still uses one; s.wmu held.
func (s *Stream) freeBefore(i uint64) bool {
	if i > s.ring.tail {
		return false
	}
	for _, r := range *s.readers.Load() {
		if r.done.Load() < i {
			return false
		}
	}
	return true
}

// releaseIfDone gives the stream's packet memory back once it is closed
// and has no reader left.
func (s *Stream) releaseIfDone() {
	if !s.isClosedFast.Load() || len(*s.readers.Load()) > 0 {
		return
	}
	s.wmu.Lock()
	if !s.released {
		s.released = true
		s.slab.release()
	}
	s.wmu.Unlock()
}

func (s *Stream) notifyReaders() {
	for _, r := range *s.readers.Load() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// close stops every producer and ends every reader; it waits for sources.
func (s *Stream) close() {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return
	}
	s.isClosed = true
	s.isClosedFast.Store(true)
	s.mu.Unlock()
	s.shutdown()
}

// shutdown does the work of close once isClosed is set.
func (s *Stream) shutdown() {
	s.mu.Lock()
	close(s.closed)
	var waits []chan struct{}
	for _, p := range s.producers {
		p.stop()
		if p.done != nil { // also a run stopped earlier that is still ending
			waits = append(waits, p.done)
		}
	}
	for _, p := range s.allLocked() {
		for _, t := range p.tracks {
			t.close()
		}
	}
	for _, p := range s.producers {
		if p.idleTimer != nil {
			p.idleTimer.Stop()
		}
	}
	if s.pubTimer != nil {
		s.pubTimer.Stop()
	}
	s.mu.Unlock()
	s.notifyReaders()
	for _, d := range waits {
		<-d
	}
	s.releaseIfDone()
}
