//go:build !unix

package stream

// mapBlocks takes blocks from the Go heap where there is no mmap.
func mapBlocks() []*block {
	mem := make([]byte, 16*slabSize)
	out := make([]*block, 16)
	for i := range out {
		out[i] = &block{buf: mem[i*slabSize : (i+1)*slabSize : (i+1)*slabSize]}
	}
	return out
}
