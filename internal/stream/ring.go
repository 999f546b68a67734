package stream

import (
	"sync/atomic"
	"time"
)

// ring is the one packet buffer of a stream, shared by all its readers. The
// writer fills slots and advances head; every reader keeps its own cursor, so
// delivering a packet costs the writer nothing per reader. The ring is sized
// in bytes, not slots: it holds the current group of pictures (from the
// oldest track's last keyframe on), so that a new reader can start there, and
// at least lag of packets, so that a reader may fall that far behind; never
// more than max bytes. A reader whose next packet was let go is dropped.
type ring struct {
	slots atomic.Pointer[slotArray]
	head  atomic.Uint64 // index of the next packet

	// writer only
	tail uint64 // oldest index held
	held int    // bytes held
	max  int
	lag  time.Duration
}

type slotArray struct {
	s    []atomic.Pointer[Packet]
	mask uint64
}

// Slot counts: the array starts small (an audio stream never needs more)
// and doubles as a stream's packets per second demand.
const (
	minSlots = 256
	maxSlots = 1 << 16
)

func newRing(maxBytes int, lag time.Duration) *ring {
	r := &ring{max: maxBytes, lag: lag}
	r.slots.Store(newSlots(minSlots))
	return r
}

func newSlots(n int) *slotArray {
	return &slotArray{s: make([]atomic.Pointer[Packet], n), mask: uint64(n - 1)}
}

// push stores p at the head and lets go of the oldest packets the ring need
// not hold any more: those before keep (the start of the current group of
// pictures) that are older than the lag window, and any beyond max bytes.
// Only one goroutine may push at a time.
func (r *ring) push(p *Packet, size int, keep uint64) {
	h := r.head.Load()
	arr := r.slots.Load()
	if h-r.tail >= uint64(len(arr.s)) {
		if len(arr.s) < maxSlots {
			arr = r.grow(arr, h)
		} else {
			r.evict(arr)
		}
	}
	p.idx = h
	p.size = size
	arr.s[h&arr.mask].Store(p)
	r.held += size
	r.head.Store(h + 1)
	for r.tail < h {
		old := arr.s[r.tail&arr.mask].Load()
		if r.held <= r.max && (r.tail >= keep || p.Time.Sub(old.Time) < r.lag) {
			break
		}
		r.evict(arr)
	}
}

// grow doubles the slot array. Readers load the array after head, so a
// reader that sees a packet stored in the new array also sees the array.
func (r *ring) grow(arr *slotArray, h uint64) *slotArray {
	next := newSlots(2 * len(arr.s))
	for i := r.tail; i < h; i++ {
		next.s[i&next.mask].Store(arr.s[i&arr.mask].Load())
	}
	r.slots.Store(next)
	return next
}

func (r *ring) evict(arr *slotArray) {
	slot := &arr.s[r.tail&arr.mask]
	if old := slot.Load(); old != nil {
		r.held -= old.size
	}
	slot.Store(nil)
	r.tail++
}

// holds reports whether the packet at index i is still in the ring (writer
// only).
func (r *ring) holds(i uint64) bool { return i >= r.tail && i < r.head.Load() }
