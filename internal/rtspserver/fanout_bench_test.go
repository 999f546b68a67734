package rtspserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"

	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// countingWriter stands in for a socket: it walks the buffers like writev
// would and counts packets by their interleaved headers.
type countingWriter struct {
	packets *atomic.Int64
	bytes   int64
	batches int64
	buffers int64 // buffers handed over, over all batches
}

func (w *countingWriter) writeBatch(bufs *net.Buffers) error {
	w.batches++
	w.buffers += int64(len(*bufs))
	n := 0
	skip := false
	for _, b := range *bufs {
		w.bytes += int64(len(b))
		switch {
		case skip: // the packet behind a header of its own
			skip = false
		case len(b) == 4 && b[0] == '$':
			if b[1]%2 == 0 { // RTP, not a sender report
				n++
			}
			skip = true
		default: // whole framed packets, one after another
			for off := 0; off+4 <= len(b); off += 4 + (int(b[off+2])<<8 | int(b[off+3])) {
				n++
			}
		}
	}
	w.packets.Add(int64(n))
	return nil
}

// BenchmarkFanOut measures the cost of the fan-out path from the source's
// WritePacket to a batch handed to the socket: marshalling once, the ring,
// waking readers, and each reader's batch build. One op is one packet
// written; ns/delivered and allocs/delivered divide by the readers.
func BenchmarkFanOut(b *testing.B) {
	for _, readers := range []int{1, 10, 100, 200, 1000} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			benchFanOut(b, readers, tcpReader)
		})
	}
}

// BenchmarkFanOutUDP is BenchmarkFanOut for UDP readers, with the TCP path
// at the same number of readers in the same run: "tcp" and "udp" hand each
// batch to a counter (no system call: the cost of our code), "udp-sendmmsg"
// sends every datagram with sendmmsg from one real socket to one loopback
// port per reader (nobody reads them: the kernel drops what its buffers do
// not hold, after the send).
func BenchmarkFanOutUDP(b *testing.B) {
	const readers = 200
	b.Run(fmt.Sprintf("readers=%d/tcp", readers), func(b *testing.B) { benchFanOut(b, readers, tcpReader) })
	b.Run(fmt.Sprintf("readers=%d/udp", readers), func(b *testing.B) {
		benchFanOut(b, readers, func(ctx context.Context, r *stream.Reader, st *stream.Stream, delivered *atomic.Int64) error {
			return writeUDP(ctx, r, &countingUDP{packets: delivered}, benchDest(b, false), new(sentCounts), newDropNote(st, slog.New(slog.DiscardHandler)))
		})
	})
	b.Run(fmt.Sprintf("readers=%d/udp-sendmmsg", readers), func(b *testing.B) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		plane := newUDPPlane(c, c, slog.New(slog.DiscardHandler))
		benchFanOut(b, readers, func(ctx context.Context, r *stream.Reader, st *stream.Stream, delivered *atomic.Int64) error {
			out := &countingUDP{packets: delivered, next: plane}
			return writeUDP(ctx, r, out, benchDest(b, true), new(sentCounts), newDropNote(st, slog.New(slog.DiscardHandler)))
		})
	})
}

func tcpReader(ctx context.Context, r *stream.Reader, _ *stream.Stream, delivered *atomic.Int64) error {
	return writeTCP(ctx, r, &countingWriter{packets: delivered}, []byte{0}, new(sentCounts))
}

// countingUDP counts the datagrams of each batch, and sends them on with
// next when set.
type countingUDP struct {
	packets *atomic.Int64
	next    udpOut
}

func (c *countingUDP) sendRTP(ms []ipv4.Message) (int, error) {
	n, err := len(ms), error(nil)
	if c.next != nil {
		n, err = c.next.sendRTP(ms)
	}
	for _, m := range ms[:n] {
		c.packets.Add(int64(len(m.Buffers)))
	}
	return n, err
}

func (c *countingUDP) segments() bool { return c.next != nil && c.next.segments() }

func (c *countingUDP) sendRTCP(b []byte, to *net.UDPAddr) error {
	if c.next != nil {
		return c.next.sendRTCP(b, to)
	}
	return nil
}

// benchDest is one reader's destination: a bound loopback socket pair when
// real, else an address nobody sends to.
func benchDest(b *testing.B, real bool) []udpDest {
	if !real {
		return []udpDest{{rtp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, rtcp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}}}
	}
	rtp, rtcp := testpeer.ListenUDPPair(b)
	return []udpDest{{rtp: rtp.LocalAddr().(*net.UDPAddr), rtcp: rtcp.LocalAddr().(*net.UDPAddr)}}
}

// benchFanOut publishes 1400-byte H.264 packets, 20 a frame, to readers
// that each run run until ctx ends, counting what they hand on in delivered.
func benchFanOut(b *testing.B, readers int, run func(ctx context.Context, r *stream.Reader, st *stream.Stream, delivered *atomic.Int64) error) {
	// packets of 1412 bytes are not cut at the default 1400: keep them whole
	reg := stream.NewRegistry(stream.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Frame: Frame, PktSize: maxDatagram})
	defer reg.Close()
	st := reg.GetOrCreate("bench")
	pub, err := st.Publish([]stream.TrackSpec{{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}}}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	tr := pub.Tracks[0]
	var delivered atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rs []*stream.Reader
	for range readers {
		r := st.NewReader(pub.Tracks)
		rs = append(rs, r)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			_ = run(ctx, r, st, &delivered)
		}()
	}
	payload := make([]byte, 1400)
	payload[0] = 0x65 // IDR: every frame is decodable, readers start at once
	const perFrame = 20
	b.ReportAllocs()
	b.ResetTimer()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i / perFrame * 3000), Marker: i%perFrame == perFrame-1 || i == b.N-1}, Payload: payload}
		pub.WritePacket(tr, pkt, start, time.Time{})
		// keep every reader within the ring: wait at each frame end
		if pkt.Marker {
			want := int64(i+1) * int64(readers)
			for delivered.Load() < want {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	cancel()
	for _, r := range rs {
		r.Kick()
	}
	wg.Wait()
	total := float64(b.N) * float64(readers)
	b.ReportMetric(float64(elapsed.Nanoseconds())/total, "ns/delivered")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/delivered")
	if got := delivered.Load(); got != int64(total) {
		b.Fatalf("delivered %d packets, want %d", got, int64(total))
	}
}

// benchSource is a source whose publisher the benchmark writes into.
type benchSource struct {
	specs []stream.TrackSpec
	ready chan sourceFeed
}

type sourceFeed struct {
	pub    stream.Publisher
	tracks []*stream.Track
}

func (s *benchSource) Run(ctx context.Context, pub stream.Publisher) error {
	tracks, err := pub.SetTracks(s.specs)
	if err != nil {
		return err
	}
	s.ready <- sourceFeed{pub, tracks}
	<-ctx.Done()
	return nil
}

// BenchmarkFanOutShapes measures fan-out of one video (20 packets a frame)
// and one audio track (1 packet a frame) to TCP readers on channels 0 and 2,
// from one source and from two (video from one, audio from the other).
// bufs/batch is the buffers a reader hands to one writev: 1 when the
// shared framing fits the reader.
func BenchmarkFanOutShapes(b *testing.B) {
	for _, shape := range []string{"one-source", "two-sources"} {
		b.Run(shape+"/readers=200", func(b *testing.B) { benchShape(b, shape == "two-sources", 200) })
	}
}

func benchShape(b *testing.B, twoSources bool, readers int) {
	video := stream.TrackSpec{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}}
	audio := stream.TrackSpec{Kind: stream.Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}}
	ready := make(chan sourceFeed, 2)
	srcs := []stream.Source{&benchSource{specs: []stream.TrackSpec{video, audio}, ready: ready}}
	names := []string{"av"}
	if twoSources {
		srcs = []stream.Source{&benchSource{specs: []stream.TrackSpec{video}, ready: ready}, &benchSource{specs: []stream.TrackSpec{audio}, ready: ready}}
		names = []string{"v", "a"}
	}
	reg := stream.NewRegistry(stream.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Frame: Frame})
	defer reg.Close()
	st, err := reg.AddOpened("bench", srcs, names)
	if err != nil {
		b.Fatal(err)
	}
	release := st.Acquire()
	defer release()
	feeds := map[stream.Kind]sourceFeed{}
	byKind := map[stream.Kind]*stream.Track{}
	for range srcs {
		f := <-ready
		for _, t := range f.tracks {
			feeds[t.Kind] = f
			byKind[t.Kind] = t
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tracks, err := st.WaitTracks(ctx)
	cancel()
	if err != nil || len(tracks) != 2 {
		b.Fatalf("tracks %v: %v", tracks, err)
	}
	vt, at := byKind[stream.Video], byKind[stream.Audio]
	var delivered atomic.Int64
	var votes channelVotes
	ctx, cancel = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rs []*stream.Reader
	writers := make([]*countingWriter, readers)
	for i := range readers {
		r := st.NewReader([]*stream.Track{vt, at})
		votes.add([]*stream.Track{vt, at}, []byte{0, 2}, 1) // as a session does
		rs = append(rs, r)
		writers[i] = &countingWriter{packets: &delivered}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			_ = writeTCP(ctx, r, writers[i], []byte{0, 2}, new(sentCounts))
		}()
	}
	payload := make([]byte, 1400)
	payload[0] = 0x65
	const perFrame = 20
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	written := 0
	for i := 0; i < b.N; i++ {
		end := i%perFrame == perFrame-1 || i == b.N-1
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i / perFrame * 3000), Marker: end}, Payload: payload}
		feeds[stream.Video].pub.WritePacket(vt, pkt, start, time.Time{})
		written++
		if end {
			a := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(i / perFrame * 320)}, Payload: payload[:160]}
			feeds[stream.Audio].pub.WritePacket(at, a, start, time.Time{})
			written++
			// the audio packet wakes nobody in a stream with video: the
			// next frame's end does; wait for this frame's video
			want := int64(written-1) * int64(readers)
			for delivered.Load() < want {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cancel()
	for _, r := range rs {
		r.Kick()
	}
	wg.Wait()
	var batches, buffers int64
	for _, w := range writers {
		batches += w.batches
		buffers += w.buffers
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/(float64(written)*float64(readers)), "ns/delivered")
	if batches > 0 {
		b.ReportMetric(float64(buffers)/float64(batches), "bufs/batch")
	}
}

// BenchmarkUDPSend compares the system calls behind a UDP reader's frame:
// 20 datagrams of 1412 bytes to one loopback port, one sendto each (what a
// writer per packet does) or one sendmmsg for all (writeUDP). ns/datagram
// is per datagram.
func BenchmarkUDPSend(b *testing.B) {
	rx, _ := testpeer.ListenUDPPair(b)
	to := rx.LocalAddr().(*net.UDPAddr)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const perFrame = 20
	pkt := make([]byte, 1412)
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perFrame), "ns/datagram")
	}
	b.Run("sendto", func(b *testing.B) {
		for b.Loop() {
			for range perFrame {
				if _, err := c.WriteToUDP(pkt, to); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("sendmmsg", func(b *testing.B) {
		bs := newBatchSender(c)
		msgs := make([]ipv4.Message, perFrame)
		for i := range msgs {
			msgs[i] = ipv4.Message{Buffers: [][]byte{pkt}, Addr: to}
		}
		for b.Loop() {
			if n, err := bs.WriteBatch(msgs, 0); n != perFrame || err != nil {
				b.Fatal(n, err)
			}
		}
		report(b)
	})
	if !gsoSupported {
		return
	}
	b.Run("gso", func(b *testing.B) {
		bs := newBatchSender(c)
		bufs := make([][]byte, perFrame)
		for i := range bufs {
			bufs[i] = pkt
		}
		msgs := []ipv4.Message{{Buffers: bufs, OOB: putGSO(make([]byte, gsoSpace), len(pkt)), Addr: to}}
		for b.Loop() {
			if n, err := bs.WriteBatch(msgs, 0); n != 1 || err != nil {
				b.Fatal(n, err)
			}
		}
		report(b)
	})
}
