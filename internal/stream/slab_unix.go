//go:build unix

package stream

import "syscall"

// chunkBlocks is how many blocks one request to the system brings.
const chunkBlocks = 16

// mapBlocks maps anonymous memory outside the Go heap and cuts it into
// blocks, each with its capacity ending at its own end (see Extend). If the
// system refuses, the blocks come from the Go heap.
func mapBlocks() []*block {
	mem, err := syscall.Mmap(-1, 0, chunkBlocks*slabSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		mem = make([]byte, chunkBlocks*slabSize)
	}
	out := make([]*block, chunkBlocks)
	for i := range out {
		out[i] = &block{buf: mem[i*slabSize : (i+1)*slabSize : (i+1)*slabSize]}
	}
	return out
}
