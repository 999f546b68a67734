package stream

import (
	"context"
	"errors"
	"sync/atomic"
)

// Errors a reader ends with.
var (
	// ErrLagged: the reader fell a whole ring behind the stream.
	ErrLagged = errors.New("reader too slow: fell behind the stream")
	// ErrTrackEnded: a track of the reader ended (codec change, publisher gone).
	ErrTrackEnded = errors.New("track ended")
	// ErrStreamClosed: the stream was removed or the server is stopping.
	ErrStreamClosed = errors.New("stream closed")
)

// Reader follows a stream's packets for a chosen set of tracks. It belongs to
// one goroutine; only Close may be called from others.
type Reader struct {
	s      *Stream
	tracks []*Track
	sel    []int // track ID -> position in tracks + 1; 0 = not wanted
	// waitKey[pos]: skip packets of that track until a keyframe starts
	waitKey []bool
	cursor  uint64
	// done: the reader uses no packet before this ring index any more
	// (the cursor when its last Next began: the batch before is written)
	done    atomic.Uint64
	wake    chan struct{}
	release func()
}

// NewReader starts reading tracks (all of this stream) at the last keyframe
// the stream holds (its GOP cache), unless Options.NoGOPCache is set: the
// reader then gets that group of pictures as fast as it takes it, then the
// live packets. Audio before that keyframe is skipped, so audio and video
// start together. The reader holds the sources of its tracks up until Close.
func (s *Stream) NewReader(tracks []*Track) *Reader { return s.NewReaderAt(tracks, !s.opts.NoGOPCache) }

// NewReaderAt is NewReader with the GOP cache on or off for this reader:
// off, video tracks start at their next keyframe and audio at once.
func (s *Stream) NewReaderAt(tracks []*Track, gopCache bool) *Reader {
	r := &Reader{
		s:       s,
		tracks:  append([]*Track(nil), tracks...),
		waitKey: make([]bool, len(tracks)),
		wake:    make(chan struct{}, 1),
	}
	maxID := 0
	for _, t := range tracks {
		maxID = max(maxID, t.ID)
	}
	r.sel = make([]int, maxID+1)
	for i, t := range tracks {
		r.sel[t.ID] = i + 1
		r.waitKey[i] = t.Kind == Video
	}
	r.release = s.Hold(tracks)
	s.rmu.Lock()
	// on the list before the write lock goes: the slab must see the
	// reader before it reuses memory the reader is about to read
	s.wmu.Lock()
	r.cursor = s.startLocked(r.tracks, gopCache)
	r.done.Store(r.cursor)
	old := *s.readers.Load()
	next := make([]*Reader, len(old), len(old)+1)
	copy(next, old)
	next = append(next, r)
	s.readers.Store(&next)
	s.wmu.Unlock()
	s.rmu.Unlock()
	// packets may be there already (the cache, or ones written before we
	// were on the list), and a stream closed before that must still be seen
	r.Kick()
	return r
}

// Tracks returns the reader's tracks; Packet positions refer to this order.
func (r *Reader) Tracks() []*Track { return r.tracks }

// Position returns the index of t in Tracks(), or -1.
func (r *Reader) Position(t *Track) int {
	if t.ID < len(r.sel) {
		return r.sel[t.ID] - 1
	}
	return -1
}

// Wait blocks until new packets may be there, or a track or the stream ends,
// or ctx ends and Kick is called. It is a plain channel receive: it runs once
// per frame per reader, so a select over several channels would cost.
func (r *Reader) Wait(ctx context.Context) error {
	<-r.wake
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.s.isClosedFast.Load() {
		return ErrStreamClosed
	}
	for _, t := range r.tracks {
		if t.closed() {
			return ErrTrackEnded
		}
	}
	return nil
}

// Next appends to dst every packet of the reader's tracks that arrived since
// the last call. The packets' bytes stay valid until the next call of Next
// or Close: their memory is used again after that.
func (r *Reader) Next(dst []*Packet) ([]*Packet, error) {
	r.done.Store(r.cursor)
	rg := r.s.ring
	h := rg.head.Load()
	arr := rg.slots.Load() // after head: it holds every packet before h
	if h-r.cursor > uint64(len(arr.s)) {
		return dst, ErrLagged
	}
	for i := r.cursor; i < h; i++ {
		p := arr.s[i&arr.mask].Load()
		if p == nil || p.idx != i {
			return dst, ErrLagged
		}
		id := p.Track.ID
		if id >= len(r.sel) || r.sel[id] == 0 {
			continue
		}
		if pos := r.sel[id] - 1; r.waitKey[pos] {
			if !p.Key {
				continue
			}
			r.waitKey[pos] = false
		}
		dst = append(dst, p)
	}
	r.cursor = h
	return dst, nil
}

// Kick wakes Wait; call it after cancelling Wait's context.
func (r *Reader) Kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stops the reader and releases its hold on the stream's sources.
func (r *Reader) Close() {
	s := r.s
	s.rmu.Lock()
	old := *s.readers.Load()
	next := make([]*Reader, 0, len(old))
	found := false
	for _, o := range old {
		if o == r {
			found = true
			continue
		}
		next = append(next, o)
	}
	s.readers.Store(&next)
	s.rmu.Unlock()
	if found {
		r.release()
		s.releaseIfDone()
	}
}
