package rtspserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"

	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// startUDPServer starts a server on free ports with UDP on.
func startUDPServer(t *testing.T, reg *stream.Registry, log *slog.Logger) *Server {
	t.Helper()
	var srv *Server
	testpeer.OnFreeUDPPair(t, func(p int) bool {
		srv = New(Config{
			Listen:         "127.0.0.1:0",
			UDPRTPAddress:  fmt.Sprintf("127.0.0.1:%d", p),
			UDPRTCPAddress: fmt.Sprintf("127.0.0.1:%d", p+1),
		}, reg, log)
		err := srv.Start()
		if err != nil && !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		return err != nil
	})
	t.Cleanup(srv.Close)
	return srv
}

// udpServer serves stream "cam" with specs over TCP and UDP (127.0.0.1, free
// ports); a raw reader sets up every track over UDP and plays.
func udpServer(t *testing.T, specs ...stream.TrackSpec) (*stream.Stream, *stream.Publication, []testpeer.UDPTrack) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := stream.NewRegistry(stream.Options{Logger: log})
	t.Cleanup(reg.Close)
	st := reg.GetOrCreate("cam")
	pub, err := st.Publish(specs, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := startUDPServer(t, reg, log)
	url := "rtsp://" + srv.Addr().String() + "/cam?video=all&audio=all"
	var urls []string
	for i := range specs {
		urls = append(urls, fmt.Sprintf("%s/trackID=%d", url, i))
	}
	tracks := testpeer.DialRaw(t, url).PlayUDP(url, urls...)
	for i, tr := range tracks {
		if !tr.HasSSRC {
			t.Fatalf("track %d: the SETUP answer has no SSRC", i)
		}
	}
	return st, pub, tracks
}

// TestUDPReader: a UDP reader gets the SSRC its SETUP answer announced, on
// RTP and in sender reports; 3000-byte H.264 packets (legal over TCP)
// arrive cut to datagrams of at most the packet size that depayload to the
// same NAL units; a 3000-byte audio packet, which cannot be cut, is skipped
// and counted, and the audio around it arrives.
func TestUDPReader(t *testing.T) {
	st, pub, tracks := udpServer(t, stream.TrackSpec{Kind: stream.Video, Format: &format.H264{PayloadTyp: 96, PacketizationMode: 1}},
		stream.TrackSpec{Kind: stream.Audio, Format: &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}})
	video, audio := pub.Tracks[0], pub.Tracks[1]
	key, p := make([]byte, 3000), make([]byte, 3000)
	key[0], p[0] = 0x65, 0x41
	for i := 1; i < 3000; i++ {
		key[i], p[i] = byte(i), byte(i*7)
	}
	apkt := func(seq uint16, size int) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: make([]byte, size)}
	}
	now := time.Now()
	pub.WritePacket(audio, apkt(1, 160), now, time.Time{})
	pub.WritePacket(audio, apkt(2, 3000), now, time.Time{})
	pub.WritePacket(audio, apkt(3, 160), now, time.Time{})
	pub.WritePacket(video, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, Timestamp: 0, Marker: true}, Payload: key}, now, time.Time{})
	pub.WritePacket(video, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 8, Timestamp: 3000, Marker: true}, Payload: p}, now, time.Time{})

	got := testpeer.ReadRTP(t, tracks[0].RTP, func(ps []*rtp.Packet) bool {
		return len(ps) > 0 && ps[len(ps)-1].Timestamp != ps[0].Timestamp && ps[len(ps)-1].Marker
	})
	var dec rtph264.Decoder
	if err := dec.Init(); err != nil {
		t.Fatal(err)
	}
	var nals [][]byte
	for i, pkt := range got {
		if pkt.SSRC != tracks[0].SSRC {
			t.Fatalf("video SSRC %08x, SETUP announced %08x", pkt.SSRC, tracks[0].SSRC)
		}
		if pkt.MarshalSize() > stream.DefaultPktSize {
			t.Errorf("datagram of %d bytes", pkt.MarshalSize())
		}
		if i > 0 && pkt.SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Errorf("sequence number %d after %d", pkt.SequenceNumber, got[i-1].SequenceNumber)
		}
		if au, err := dec.Decode(pkt); err == nil {
			nals = append(nals, au...)
		}
	}
	if len(nals) != 2 || !bytes.Equal(nals[0], key) || !bytes.Equal(nals[1], p) {
		t.Fatalf("depayloaded %d NAL units, want the keyframe and the P frame whole", len(nals))
	}

	agot := testpeer.ReadRTP(t, tracks[1].RTP, func(ps []*rtp.Packet) bool { return len(ps) == 2 })
	for _, a := range agot {
		if a.SSRC != tracks[1].SSRC || len(a.Payload) != 160 {
			t.Errorf("audio packet SSRC %08x, %d bytes; want %08x, 160", a.SSRC, len(a.Payload), tracks[1].SSRC)
		}
	}
	if d := st.Stats().Drops[stream.DropTooBigUDP]; d != 1 {
		t.Errorf("%d packets counted too big for UDP, want 1", d)
	}

	// the sender report of each track went first, with the track's SSRC
	for i, tr := range tracks {
		buf := make([]byte, 1500)
		tr.RTCP.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := tr.RTCP.Read(buf)
		if err != nil {
			t.Fatalf("track %d: no sender report: %v", i, err)
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		sr, ok := pkts[0].(*rtcp.SenderReport)
		if !ok || sr.SSRC != tr.SSRC {
			t.Errorf("track %d: RTCP %v, want a sender report of SSRC %08x", i, pkts[0], tr.SSRC)
		}
	}
}

// failingOut refuses the datagram at one index (counted over batches) and
// closes three once three went out.
type failingOut struct {
	failAt int
	sent   []int // lengths of the datagrams sent
	batch  int
	three  chan struct{}
}

func (f *failingOut) sendRTP(ms []ipv4.Message) (int, error) {
	for i, m := range ms {
		if f.batch == f.failAt {
			f.batch++
			return i, errors.New("sendmmsg: operation not permitted")
		}
		f.batch++
		f.sent = append(f.sent, len(m.Buffers[0]))
		if len(f.sent) == 3 {
			close(f.three)
		}
	}
	return len(ms), nil
}

func (f *failingOut) sendRTCP([]byte, *net.UDPAddr) error { return nil }

func (f *failingOut) segments() bool { return false }

// writerRig is one reader of a one-track H.264 stream, its log kept in
// logs, for tests of writeUDP against an udpOut of their own.
type writerRig struct {
	logs bytes.Buffer
	log  *slog.Logger
	st   *stream.Stream
	pub  *stream.Publication
	r    *stream.Reader
	sent sentCounts
	stop func() error
}

func newWriterRig(t *testing.T) *writerRig {
	t.Helper()
	w := &writerRig{}
	w.log = slog.New(slog.NewTextHandler(&w.logs, nil))
	_, w.st, w.pub = h264Stream(t, stream.Options{Logger: w.log})
	w.r = w.st.NewReader(w.pub.Tracks)
	return w
}

// run starts writeUDP into out for dst; stop ends it and returns its error.
func (w *writerRig) run(out udpOut, dst []udpDest) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- writeUDP(ctx, w.r, out, dst, &w.sent, newDropNote(w.st, w.log)) }()
	w.stop = func() error {
		cancel()
		w.r.Kick()
		return <-done
	}
}

// waitUntil polls cond for up to 5 s; the test's checks then say what is
// missing.
func waitUntil(cond func() bool) {
	for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// anyDest is a reader's RTP and RTCP ports that nothing listens on.
var anyDest = []udpDest{{rtp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, rtcp: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10}}}

// TestUDPWriteErrorCounted: a datagram the socket refuses is counted as a
// drop and skipped; the rest of the batch still goes out.
func TestUDPWriteErrorCounted(t *testing.T) {
	w := newWriterRig(t)
	pub := w.pub
	out := &failingOut{failAt: 1, three: make(chan struct{})}
	w.run(out, anyDest)
	now := time.Now()
	for i := range 4 {
		payload := []byte{0x41, byte(i), 2, 3}
		if i == 0 {
			payload[0] = 0x65
		}
		pub.WritePacket(pub.Tracks[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: 3000, Marker: i == 3}, Payload: payload}, now, time.Time{})
	}
	select {
	case <-out.three:
	case <-time.After(5 * time.Second):
		t.Fatal("three packets were not sent")
	}
	w.stop()
	if n := w.sent.packets.Load(); n != 3 || len(out.sent) != 3 {
		t.Fatalf("%d packets counted sent, %d sent, want 3 of 4", n, len(out.sent))
	}
	if d := w.st.Stats().Drops[stream.DropUDPWrite]; d != 1 {
		t.Errorf("%d UDP write errors counted, want 1", d)
	}
	if !strings.Contains(w.logs.String(), "operation not permitted") {
		t.Errorf("the error is not in the log:\n%s", w.logs.String())
	}
}

// TestBatchSenderBothFamilies: the default rtp_address (":8000") makes a
// socket of both families; sendmmsg from it reaches an IPv4 reader, as it
// does from an IPv4 socket.
func TestBatchSenderBothFamilies(t *testing.T) {
	rx, _ := testpeer.ListenUDPPair(t)
	for _, bind := range []string{":0", "127.0.0.1:0"} {
		pc, err := net.ListenPacket("udp", bind)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		c := pc.(*net.UDPConn)
		bs := newBatchSender(c)
		to := rx.LocalAddr().(*net.UDPAddr)
		msgs := []ipv4.Message{{Buffers: [][]byte{[]byte("one")}, Addr: to}, {Buffers: [][]byte{[]byte("two")}, Addr: to}}
		if n, err := bs.WriteBatch(msgs, 0); n != 2 || err != nil {
			t.Fatalf("%s (%s, %T): sent %d of 2: %v", bind, c.LocalAddr(), bs, n, err)
		}
		buf := make([]byte, 16)
		for _, want := range []string{"one", "two"} {
			rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := rx.Read(buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("%s: got %q, %v; want %q", bind, buf[:n], err, want)
			}
		}
	}
}

// TestUDPBatchGroup: with segments, a run of equal-sized datagrams to one
// port, closed by a shorter one, is one message; a longer datagram, another
// port, the segment limit or the byte limit starts the next.
func TestUDPBatchGroup(t *testing.T) {
	a := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	v := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5002}
	var b udpBatch
	add := func(to *net.UDPAddr, sizes ...int) {
		for _, n := range sizes {
			b.add(make([]byte, n), to)
		}
	}
	shape := func() (got []string) {
		for _, m := range b.msgs {
			seg := ""
			if m.OOB != nil {
				seg = "gso"
			}
			got = append(got, fmt.Sprintf("%d×%d%s:%d", len(m.Buffers), len(m.Buffers[0]), seg, m.Addr.(*net.UDPAddr).Port))
		}
		return got
	}
	add(v, 1400, 1400, 1400, 900, 1400, 1400)
	add(a, 160)
	add(v, 1000, 1200, 1200)
	b.group(true, nil)
	want := []string{"4×1400gso:5002", "2×1400gso:5002", "1×160:5000", "1×1000:5002", "2×1200gso:5002"}
	if got := shape(); !slices.Equal(got, want) {
		t.Errorf("grouped %v, want %v", got, want)
	}

	b.reset()
	add(v, slices.Repeat([]int{100}, maxSegments+1)...)
	add(a, slices.Repeat([]int{1400}, maxSegmentBytes/1400+1)...)
	b.group(true, nil)
	want = []string{fmt.Sprintf("%d×100gso:5002", maxSegments), "1×100:5002",
		fmt.Sprintf("%d×1400gso:5000", maxSegmentBytes/1400), "1×1400:5000"}
	if got := shape(); !slices.Equal(got, want) {
		t.Errorf("grouped %v, want %v", got, want)
	}

	b.reset()
	add(v, 1400, 1400, 900)
	b.group(false, nil)
	if got := shape(); !slices.Equal(got, []string{"1×1400:5002", "1×1400:5002", "1×900:5002"}) {
		t.Errorf("without segments: %v", got)
	}

	b.reset()
	add(v, 1400, 1400, 900)
	add(a, 160, 160)
	b.group(true, []*net.UDPAddr{v})
	if got := shape(); !slices.Equal(got, []string{"1×1400:5002", "1×1400:5002", "1×900:5002", "2×160gso:5000"}) {
		t.Errorf("with 5002 refused: %v", got)
	}

	b.reset()
	add(v, 1400, 1400, 900)
	add(a, 160, 160)
	b.group(true, nil)
	b.ungroup(1)
	if got := shape(); !slices.Equal(got, []string{"3×1400gso:5002", "1×160:5000", "1×160:5000"}) {
		t.Errorf("ungrouped from 1: %v", got)
	}
}

// TestUDPSegmentsArrive: through the real socket, of one family (IPv4) or
// both (the default ":8000"), a segmented run reaches a plain UDP reader as
// the datagrams it was made of, in order and whole.
func TestUDPSegmentsArrive(t *testing.T) {
	if !gsoSupported {
		t.Skip("UDP segmentation offload is Linux's")
	}
	rx, _ := testpeer.ListenUDPPair(t)
	for _, bind := range []string{"127.0.0.1:0", ":0"} {
		pc, err := net.ListenPacket("udp", bind)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		c := pc.(*net.UDPConn)
		plane := newUDPPlane(c, c, slog.New(slog.DiscardHandler))
		var b udpBatch
		var want [][]byte
		for i, n := range []int{1400, 1400, 1400, 1400, 321} {
			d := bytes.Repeat([]byte{byte(i + 1)}, n)
			want = append(want, d)
			b.add(d, rx.LocalAddr().(*net.UDPAddr))
		}
		b.group(plane.segments(), nil)
		if len(b.msgs) != 1 {
			t.Fatalf("%s: %d messages, want the run as one", bind, len(b.msgs))
		}
		if n, err := plane.sendRTP(b.msgs); n != 1 || err != nil {
			t.Fatalf("%s: sendRTP = %d, %v", bind, n, err)
		}
		buf := make([]byte, 65536)
		for i, w := range want {
			rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("%s: datagram %d: %v", bind, i, err)
			}
			if !bytes.Equal(buf[:n], w) {
				t.Fatalf("%s: datagram %d: %d bytes of %d, want %d of %d", bind, i, n, buf[0], len(w), w[0])
			}
		}
		if !plane.segments() || plane.said.Load() {
			t.Errorf("%s: segments %v, refusal logged %v", bind, plane.segments(), plane.said.Load())
		}
	}
}

// refusingSender takes plain messages and refuses a segmented one as a
// route with a small MTU does.
type refusingSender struct {
	got     [][]byte
	refused int
}

func (r *refusingSender) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	for i, m := range ms {
		if m.OOB != nil {
			r.refused++
			return i, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendmmsg", syscall.EINVAL)}
		}
		r.got = append(r.got, m.Buffers[0])
	}
	return len(ms), nil
}

// TestUDPSegmentsRefused: when a route refuses a segmented send, the writer
// sends that run's datagrams one by one, nothing is lost or counted as a
// drop, later frames to that reader are not segmented, and the server says
// so once.
func TestUDPSegmentsRefused(t *testing.T) {
	if !gsoSupported {
		t.Skip("UDP segmentation offload is Linux's")
	}
	w := newWriterRig(t)
	rtcpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtcpConn.Close()
	rs := &refusingSender{}
	plane := &udpPlane{rtp: rs, rtcp: rtcpConn, log: w.log, gso: true}
	out := &countingUDP{packets: new(atomic.Int64), next: plane}
	w.run(out, anyDest)
	// a keyframe in four FU-A fragments of one size, then a short one; then
	// the next frame alike
	now := time.Now()
	for i := range 10 {
		n := 1000
		if i%5 == 4 {
			n = 300
		}
		w.pub.WritePacket(w.pub.Tracks[0], fuA(uint16(i), 3000*uint32(1+i/5), n, byte(i), i%5 == 0, i%5 == 4), now, time.Time{})
		if i == 4 {
			// the first frame out before the second comes
			waitUntil(func() bool { return out.packets.Load() >= 5 })
		}
	}
	waitUntil(func() bool { return out.packets.Load() >= 10 })
	w.stop()
	if len(rs.got) != 10 {
		t.Fatalf("%d datagrams sent, want 10", len(rs.got))
	}
	if rs.refused != 1 {
		t.Errorf("%d segmented sends refused, want 1: the second frame is to go unsegmented", rs.refused)
	}
	var first uint16
	for i, d := range rs.got {
		var p rtp.Packet
		if err := p.Unmarshal(d); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if i == 0 {
			first = p.SequenceNumber
		}
		// each payload carries its packet's number
		if p.SequenceNumber != first+uint16(i) || p.Payload[2] != byte(i) {
			t.Errorf("datagram %d: sequence %d after %d, payload of packet %d", i, p.SequenceNumber, first, p.Payload[2])
		}
	}
	if n := w.st.Stats().Drops[stream.DropUDPWrite]; n != 0 {
		t.Errorf("%d drops counted", n)
	}
	if n := strings.Count(w.logs.String(), "refused UDP segmentation offload"); n != 1 {
		t.Errorf("%d log lines about the refusal, want 1:\n%s", n, w.logs.String())
	}
}

// TestUDPWriteErrorRealSocket: the kernel refuses every datagram to port 0
// (EINVAL), so sendmmsg fails on the first message of each batch: the
// packets are counted as drops and the writer goes on (sendmmsg reports -1
// sent then, which once made the writer index out of range and crash the
// server).
func TestUDPWriteErrorRealSocket(t *testing.T) {
	w := newWriterRig(t)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nowhere := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}
	w.run(newUDPPlane(c, c, w.log), []udpDest{{rtp: nowhere, rtcp: nowhere}})
	now := time.Now()
	for i := range 3 { // a keyframe in three equal fragments: one segmented run
		w.pub.WritePacket(w.pub.Tracks[0], fuA(uint16(i), 3000, 500, byte(i), i == 0, i == 2), now, time.Time{})
	}
	drops := func() uint64 { return w.st.Stats().Drops[stream.DropUDPWrite] }
	waitUntil(func() bool { return drops() >= 4 })
	if err := w.stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("the writer ended with %v, want it to go on until cancelled", err)
	}
	// the 3 packets and the sender report before them
	if n := drops(); n != 4 {
		t.Errorf("%d drops counted, want 4:\n%s", n, w.logs.String())
	}
}
