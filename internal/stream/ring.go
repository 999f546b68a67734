package stream

import "sync/atomic"

// ring is the one packet queue of a stream, shared by all its readers. The
// writer fills slots and advances head; every reader keeps its own cursor, so
// delivering a packet costs the writer nothing per reader, and a reader that
// falls a whole ring behind finds its next slot overwritten and is dropped.
type ring struct {
	slots []atomic.Pointer[Packet]
	mask  uint64
	head  atomic.Uint64
}

func newRing(size int) *ring {
	n := 1
	for n < size {
		n <<= 1
	}
	return &ring{slots: make([]atomic.Pointer[Packet], n), mask: uint64(n - 1)}
}

// push stores p at the head. Only one goroutine may push at a time.
func (r *ring) push(p *Packet) {
	h := r.head.Load()
	p.idx = h
	r.slots[h&r.mask].Store(p)
	r.head.Store(h + 1)
}

func (r *ring) size() uint64 { return r.mask + 1 }
