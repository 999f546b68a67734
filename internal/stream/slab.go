package stream

import "sync"

// slabSize is the size of the memory blocks packets are cut from.
const slabSize = 64 << 10

// slab hands out consecutive pieces of large blocks, so that consecutive
// packets of a stream lie next to each other in memory and a reader can send
// a whole run of them as one buffer (one write, not one iovec per packet).
//
// The blocks live outside the Go heap (see blockPool) and are used again
// once the ring let go of every packet in them and every reader is past
// them: a stream's packet memory is then what its ring holds, and it does
// not count towards the garbage collector's heap goal, which would double
// it.
type slab struct {
	pool *blockPool
	// most is how many pool blocks the stream may hold; beyond that (a
	// reader stuck in a write keeps every block since its last batch until
	// it is dropped) blocks come from the Go heap, so that a spike is given
	// back to the system afterwards instead of staying in the pool
	most int
	// free reports whether every packet before ring index i is gone from
	// the ring and from every reader
	free func(i uint64) bool
	cur  *block
	off  int
	full []*block // blocks in use before cur, oldest first
}

// block is one piece of pool memory and the ring index of the last packet
// cut from it.
type block struct {
	buf  []byte
	last uint64
	heap bool // from the Go heap: let the GC have it when done
}

// alloc returns n bytes for the packet that gets ring index idx, with a
// capacity that runs to the end of its block, so that a slice of one packet
// can be extended over the packets after it. Large packets get memory of
// their own from the Go heap.
func (s *slab) alloc(n int, idx uint64) []byte {
	if n > slabSize/4 {
		return make([]byte, n)
	}
	if s.cur == nil || s.off+n > len(s.cur.buf) {
		if s.cur != nil {
			s.full = append(s.full, s.cur)
		}
		for len(s.full) > 0 && s.free(s.full[0].last+1) {
			s.pool.put(s.full[0])
			s.full[0] = nil
			s.full = s.full[1:]
		}
		if len(s.full) < s.most {
			s.cur = s.pool.get()
		} else {
			s.cur = &block{buf: make([]byte, slabSize), heap: true}
		}
		s.off = 0
	}
	b := s.cur.buf[s.off : s.off+n]
	s.off += n
	s.cur.last = idx
	return b
}

// release gives every block back, once the stream is closed and its last
// reader gone: no packet of it can be read again.
func (s *slab) release() {
	for _, b := range s.full {
		s.pool.put(b)
	}
	if s.cur != nil {
		s.pool.put(s.cur)
	}
	s.full, s.cur = nil, nil
}

// blockPool keeps the slab blocks of every stream of a process. Its memory
// comes from the system in chunks (mapBlocks) and is never returned: the
// pool is as big as the most the streams held at once.
type blockPool struct {
	mu     sync.Mutex
	free   []*block
	mapped int // blocks brought from the system
}

// blocks is the process's pool: memory, not state; streams of every
// registry share it.
var blocks = &blockPool{}

func (p *blockPool) get() *block {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		more := mapBlocks()
		p.free = append(p.free, more...)
		p.mapped += len(more)
	}
	b := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return b
}

func (p *blockPool) put(b *block) {
	if b.heap {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// Extend returns a followed by b as one slice when b starts right where a
// ends in the same block, and false otherwise.
func Extend(a, b []byte) ([]byte, bool) {
	if len(b) == 0 || cap(a) <= len(a) || cap(a)-len(a) < len(b) {
		return a, false
	}
	next := a[:len(a)+len(b)]
	if &next[len(a)] != &b[0] {
		return a, false
	}
	return next, true
}
