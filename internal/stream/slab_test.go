package stream

import (
	"bytes"
	"testing"
	"time"
)

// TestSlabReusesBlocksOnlyPastEveryReader: packet memory goes back to the
// pool once the ring let go of it and every reader moved on, so a long run
// needs only a few blocks; bytes a reader still holds from its last Next
// are never written over, however far the stream runs ahead.
func TestSlabReusesBlocksOnlyPastEveryReader(t *testing.T) {
	opts := testOptions()
	opts.Lag = 100 * time.Millisecond
	reg := NewRegistry(opts)
	defer reg.Close()
	s := reg.GetOrCreate("cam")
	s.slab.pool = &blockPool{} // counted on its own
	s.slab.most = 20
	pub := publish(t, s, h264Spec)
	v := pub.Tracks[0]
	start := time.Now()
	at := func(i int) time.Time { return start.Add(time.Duration(i) * 10 * time.Millisecond) }
	body := func(i int) []byte { return append([]byte{0x65}, bytes.Repeat([]byte{byte(i)}, 999)...) }

	fast := s.NewReader(pub.Tracks)
	defer fast.Close()
	slow := s.NewReader(pub.Tracks)
	seq := uint16(0)
	write := func(i int) {
		pub.WritePacket(v, vpkt(seq, uint32(i)*900, body(i), true), at(i), time.Time{})
		seq++
	}
	var got []*Packet
	var err error
	for i := range 10 {
		write(i)
		if got, err = fast.Next(got[:0]); err != nil {
			t.Fatal(err)
		}
	}
	held, err := slow.Next(nil)
	if err != nil || len(held) != 10 {
		t.Fatalf("slow reader: %d packets, %v", len(held), err)
	}
	want := make([][]byte, len(held))
	for i, p := range held {
		want[i] = append([]byte(nil), p.Data...)
	}
	// 5 MB more, 50 s of stream: the ring lets the held packets go
	for i := 10; i < 5000; i++ {
		write(i)
		if got, err = fast.Next(got[:0]); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range held {
		if !bytes.Equal(p.Data, want[i]) {
			t.Fatalf("packet %d a reader still held was written over", i)
		}
	}
	if _, err := slow.Next(nil); err != ErrLagged {
		t.Fatalf("the slow reader: %v, want ErrLagged", err)
	}
	slow.Close()
	mappedWithSlow := s.slab.pool.mapped
	for i := 5000; i < 10000; i++ {
		write(i)
		if got, err = fast.Next(got[:0]); err != nil {
			t.Fatal(err)
		}
	}
	// while the slow reader held its batch the stream took no more than
	// its share of the pool (the rest came from the heap); afterwards the
	// same blocks went round: ~100 KB of lag window is a few blocks
	if mappedWithSlow > 2*chunkBlocks {
		t.Fatalf("%d blocks mapped while a reader held its batch, want at most %d", mappedWithSlow, 2*chunkBlocks)
	}
	inUse := s.slab.pool.mapped - len(s.slab.pool.free)
	if m := s.slab.pool.mapped; m != mappedWithSlow || inUse > 4 {
		t.Fatalf("%d blocks mapped (%d before), %d in use, for a stream holding ~100 KB", m, mappedWithSlow, inUse)
	}
}
