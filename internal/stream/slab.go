package stream

// slabSize is the size of the memory blocks packets are cut from.
const slabSize = 64 << 10

// slab hands out consecutive pieces of large blocks, so that consecutive
// packets of a stream lie next to each other in memory and a reader can send
// a whole run of them as one buffer (one write, not one iovec per packet). A
// block is freed by the GC once no packet in it is referenced any more.
type slab struct {
	block []byte
	off   int
}

// alloc returns n bytes whose capacity runs to the end of their block, so a
// slice of one packet can be extended over the packets after it.
func (s *slab) alloc(n int) []byte {
	if n > slabSize/4 {
		return make([]byte, n)
	}
	if s.off+n > len(s.block) {
		s.block = make([]byte, slabSize)
		s.off = 0
	}
	b := s.block[s.off : s.off+n]
	s.off += n
	return b
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
