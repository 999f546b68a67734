package loadtest

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// rtpPacket builds an RTP packet (version 2, PT 96) around payload.
func rtpPacket(seq uint16, ts uint32, marker bool, payload []byte) []byte {
	p := make([]byte, 12, 12+len(payload))
	p[0] = 0x80
	p[1] = 96
	if marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], ts)
	binary.BigEndian.PutUint32(p[8:], 0x1234)
	return append(p, payload...)
}

// TestReaderAccounting feeds a reader packets with a lost frame, a sequence
// gap and a late packet, and checks what Run would report.
func TestReaderAccounting(t *testing.T) {
	t0 := time.Now()
	win := &window{}
	win.startNanos.Store(t0.UnixNano())
	r := &rawReader{cfg: &readerConfig{win: win}}
	r.res.first = -1
	r.chans[0].kind = channelRTPVideo
	r.chans[2].kind = channelRTPOther

	send := func(i int) int64 { return t0.Add(time.Duration(i) * 33 * time.Millisecond).UnixNano() }
	slice := []byte{0x41, 0x9a, 1, 2, 3}
	// The sequence number wraps; frame 0 was sent before the reader joined
	// and frame 3 is lost.
	seq := uint16(65534)
	for _, counter := range []int{1, 2, 4} {
		if counter == 4 {
			seq += 2 // the two packets of frame 3
		}
		sei := BuildSEI(Stamp{Counter: uint64(counter), SendNanos: send(counter)})
		ts := uint32(counter * 3000)
		r.handleRTP(&r.chans[0], rtpPacket(seq, ts, false, sei))
		r.handleRTP(&r.chans[0], rtpPacket(seq+1, ts, true, slice))
		seq += 2
	}
	// A late duplicate is not a gap; audio has its own sequence.
	r.handleRTP(&r.chans[0], rtpPacket(seq-1, 0, false, slice))
	r.handleRTP(&r.chans[2], rtpPacket(100, 0, false, []byte{0xd5}))
	r.handleRTP(&r.chans[2], rtpPacket(103, 160, false, []byte{0xd5}))
	r.handleRTP(&r.chans[0], []byte{0x80, 96, 0})

	if r.res.gaps != 2+2 || r.res.malformed != 1 {
		t.Fatalf("gaps %d malformed %d, want 4 and 1", r.res.gaps, r.res.malformed)
	}
	if r.res.first != 1 || r.res.latency.Count() != 3 {
		t.Fatalf("first %d, %d latencies", r.res.first, r.res.latency.Count())
	}

	frames := make([]sentFrame, 6)
	for i := range frames {
		frames[i] = sentFrame{sendNanos: send(i), bytes: 1000}
	}
	// The window holds frames 0..5; this reader joined at 1: 3 of 5.
	res := summarize(RunConfig{URL: "rtsp://u:p@127.0.0.1/x", Readers: 2}, frames,
		[]*readerResult{&r.res, {first: -1}}, t0, t0.Add(200*time.Millisecond))
	if res.FramesSent != 6 || res.DeliveredMinPct != 0 || res.DeliveredMeanPct != 30 || res.ReadersFullPct != 0 {
		t.Fatalf("summary %+v", res)
	}
	if res.URL != "rtsp://127.0.0.1/x" {
		t.Fatalf("credentials in report: %s", res.URL)
	}
}

// TestRelayDropsStalledReader checks that a reader whose queue fills is
// dropped without blocking the fan-out.
func TestRelayDropsStalledReader(t *testing.T) {
	r := &Relay{QueueFrames: 2, Logger: quietLogger(), readers: make(map[*relayReader]struct{})}
	server, client := net.Pipe() // nobody reads client: every Write blocks
	defer client.Close()
	rd := &relayReader{conn: server, queue: make(chan []byte, r.QueueFrames), done: make(chan struct{})}
	r.readers[rd] = struct{}{}
	writerDone := make(chan struct{})
	go func() {
		rd.writeLoop()
		close(writerDone)
	}()

	done := make(chan struct{})
	go func() {
		for range 5 {
			r.fanout([]byte("frame"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("fan-out blocked on a stalled reader")
	}
	select {
	case <-writerDone:
	case <-time.After(2 * time.Second):
		t.Fatal("writer of the dropped reader did not end")
	}
	if st := r.Stats(); st.DroppedReaders != 1 || st.Frames != 5 || len(r.readers) != 0 {
		t.Fatalf("stats %+v, %d readers left", st, len(r.readers))
	}
}
