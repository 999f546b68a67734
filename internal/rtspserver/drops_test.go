package rtspserver

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// h264Stream publishes stream "cam" with one H.264 track in a registry of
// its own with opts, closed when the test ends.
func h264Stream(t *testing.T, opts stream.Options) (*stream.Registry, *stream.Stream, *stream.Publication) {
	t.Helper()
	reg := stream.NewRegistry(opts)
	t.Cleanup(reg.Close)
	st := reg.GetOrCreate("cam")
	pub, err := st.Publish([]stream.TrackSpec{{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return reg, st, pub
}

// fuA is an RTP packet of the H.264 track carrying an FU-A fragment of an
// IDR slice: the first and/or last of its keyframe, n bytes of payload
// filled with fill after the two FU bytes.
func fuA(seq uint16, ts uint32, n int, fill byte, first, last bool) *rtp.Packet {
	payload := bytes.Repeat([]byte{fill}, n)
	payload[0], payload[1] = 0x7c, 0x05
	if first {
		payload[1] |= 0x80
	}
	if last {
		payload[1] |= 0x40
	}
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: last}, Payload: payload}
}

// playingReader serves stream "cam" (one H.264 track) with opts and cfg and
// has a raw TCP reader PLAY it; it returns the stream, its publication and
// the reader, which reads nothing by itself.
func playingReader(t *testing.T, opts stream.Options, cfg Config) (*stream.Stream, *stream.Publication, *testpeer.RawClient) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Logger = log
	opts.Frame = Frame
	reg, st, pub := h264Stream(t, opts)
	cfg.Listen = "127.0.0.1:0"
	srv := New(cfg, reg, log)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := "rtsp://" + srv.Addr().String() + "/cam"
	rc := testpeer.DialRaw(t, url)
	rc.PlayTCP(url, url+"/trackID=0")
	return st, pub, rc
}

func waitDrop(t *testing.T, st *stream.Stream, reason string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().Drops[reason] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %q drop counted: %v", reason, st.Stats().Drops)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := st.Stats().Drops; d[reason] != 1 {
		t.Fatalf("drops %v, want one %q", d, reason)
	}
}

// TestLaggingReaderCounted: a frame of more packets than the ring holds,
// woken for once at its end, leaves the reader a whole ring behind.
func TestLaggingReaderCounted(t *testing.T) {
	st, pub, rc := playingReader(t, stream.Options{BufferSize: 16 * (stream.Headroom + 112)}, Config{})
	payload := make([]byte, 100)
	payload[0] = 0x65
	// a whole frame first, taken by the reader: until a stream has seen a
	// marker, a frame's first packet wakes readers too, and a reader woken
	// there could keep pace with the big frame
	pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Timestamp: 0, Marker: true}, Payload: payload}, time.Now(), time.Time{})
	for {
		if _, _, ch, _ := rc.Next(); ch == 0 {
			break
		}
	}
	now := time.Now() // one arrival time: no 20 ms flush wakes the reader early
	for i := range 40 {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(1 + i), Timestamp: 3000, Marker: i == 39}, Payload: payload}
		pub.WritePacket(pub.Tracks[0], pkt, now, time.Time{})
	}
	waitDrop(t, st, stream.DropReaderSlow)
}

// TestStuckReaderCounted: a reader that takes nothing is dropped at the write
// timeout, as stuck. (The deadline is refreshed once a second, so a timeout
// under a second would drop readers that are fine.)
func TestStuckReaderCounted(t *testing.T) {
	st, pub, _ := playingReader(t, stream.Options{}, Config{WriteTimeout: time.Second})
	payload := make([]byte, 1400)
	payload[0] = 0x65
	// frames of 10 packets, 1 ms apart: the writer keeps up until the
	// socket's buffers are full, then blocks in its write
	end := time.Now().Add(15 * time.Second)
	for i := 0; st.Stats().Drops[stream.DropReaderStuck] == 0 && time.Now().Before(end); i++ {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i / 10 * 3000), Marker: i%10 == 9}, Payload: payload}
		pub.WritePacket(pub.Tracks[0], pkt, time.Now(), time.Time{})
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	waitDrop(t, st, stream.DropReaderStuck)
}
