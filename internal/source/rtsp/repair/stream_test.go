package repair

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// passCase is camera output that must come out byte for byte.
type passCase struct {
	name   string
	req    testReq
	camera string
	accept bool // gortsplib's client already takes it (else: nothing to repair)
}

var passCases = []passCase{
	{name: "plain answer", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"},
	{name: "answer without CSeq", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"},
	{name: "answer without reason", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200\r\nCSeq: 1\r\n\r\n"},
	{name: "lower-case header names", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\ncseq: 1\r\nsession: 1234\r\n\r\n"},
	{name: "CSeq after a tab", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\nCSeq:\t1\r\n\r\n"},
	{name: "Session with spaces and Timeout", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nSession: 1234; timeout=60\r\nX: y\r\nSession-Note: 1;Timeout=60\r\n\r\n"},
	{name: "unimportant header with space before colon", req: optionsReq, accept: true,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer : cam\r\n\r\n"},
	{name: "RTP/AVP/UDP", req: setupUDPReq, accept: true,
		camera: setupAnswer("RTP/AVP/UDP;unicast;client_port=52794-52795;server_port=6970-6971")},
	{name: "quoted mode", req: setupTCPReq, accept: true,
		camera: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;mode=\"PLAY\"")},
	{name: "odd-length and decimal ssrc", req: setupTCPReq, accept: true,
		camera: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=ABC") +
			strings.Replace(setupAnswer("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=1234567890"), "CSeq: 3", "CSeq: 9", 1)},
	{name: "single interleaved channel", req: setupTCPReq, accept: true,
		camera: setupAnswer("RTP/AVP/TCP;unicast;interleaved=0")},
	{name: "SDP gortsplib already tolerates", req: describeReq, accept: true,
		camera: describeAnswer("v=0\nm=video 0 RTP/AVP 96\na=\nc=IN IP4\na=rtpmap:96 H264/90000\na=control:trackID=1\n")},
	{name: "SDP with rtpmap without clock", req: describeReq, accept: true,
		camera: describeAnswer(sdpWith("H264/90000", "H264"))},
	{name: "request from the camera", req: optionsReq, accept: true,
		camera: "OPTIONS * RTSP/1.0\r\nCSeq: 7\r\n\r\n" +
			"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"},
	{name: "request from the camera with a body", req: optionsReq,
		camera: "ANNOUNCE rtsp://cam/ RTSP/1.0\nCSeq: 8\nContent-Length: 5\n\nv=0\r\n" +
			"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"},
	{name: "blank lines between messages", req: optionsReq, accept: true,
		camera: "\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n\r\n"},
	{name: "late answer to an older request", req: optionsReq,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\nRTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"},
	{name: "HTTP answer", req: optionsReq,
		camera: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
	{name: "RT that is not RTSP", req: optionsReq,
		camera: "RTX 200 OK\nCSeq: 0\n\nRTSP/1.0 200 OK\nCSeq: 1\n\n"},
	{name: "status line without code", req: optionsReq,
		camera: "RTSP/1.0 OK\r\nCSeq: 1\r\n\r\nRTSP/1.0 200 OK\nCSeq: 1\n\n"},
	{name: "SETUP answer without Transport", req: setupTCPReq,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\n\r\n"},
	{name: "DESCRIBE answer without Content-Length", req: describeReq,
		camera: "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\n\r\n" + goodSDP},
	{name: "SDP beyond repair", req: describeReq,
		camera: describeAnswer("v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=none\r\n")},
	{name: "head larger than the limit", req: optionsReq,
		camera: "RTSP/1.0 200 OK\r\nX: " + strings.Repeat("x", maxHead) + "\nCSeq: 1\n\n" + "RTSP/1.0 200 OK\nCSeq: 1\n\n"},
	{name: "body larger than the limit", req: describeReq,
		camera: "RTSP/1.0 200 OK\nCSeq: 2\nContent-Length: 2000000\n\n" + strings.Repeat("v=0\n", 500000)},
	{name: "truncated answer", req: optionsReq,
		camera: "RTSP/1.0 200 OK\nCSeq: 1\nContent-Length: 100\n\nabc"},
}

func TestPassThrough(t *testing.T) {
	for _, c := range passCases {
		t.Run(c.name, func(t *testing.T) {
			if c.accept {
				if err := verdict(c.req, []byte(firstMessage(c.camera))); err != nil {
					t.Fatalf("gortsplib refuses it: %v", err)
				}
			}
			r := runWrap(t, [][]byte{c.req.bytes()}, []byte(c.camera), nil, 4096)
			if !bytes.Equal(r.out, []byte(c.camera)) {
				t.Errorf("changed:\n%q\nwant\n%q", trunc(r.out), trunc([]byte(c.camera)))
			}
			if len(r.quirks) != 0 {
				t.Errorf("quirks %q", r.quirks)
			}
		})
	}
}

// firstMessage cuts the first answer out of s, for gortsplib to judge.
func firstMessage(s string) string {
	s = s[strings.Index(s, "RTSP/1.0 2"):]
	if !strings.Contains(s, "Content-Length") {
		return s[:strings.Index(s, "\r\n\r\n")+4]
	}
	if j := strings.Index(s[1:], "RTSP/1.0 2"); j >= 0 {
		return s[:j+1]
	}
	return s
}

func trunc(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// allStreams is every case above as camera bytes with our requests.
func allStreams() (names []string, reqs [][][]byte, cams [][]byte) {
	for _, cs := range [][]quirkCase{messageCases, headerCases, setupCases} {
		for _, c := range cs {
			names = append(names, c.name)
			reqs = append(reqs, [][]byte{c.req.bytes()})
			cams = append(cams, []byte(c.answer))
		}
	}
	for _, c := range sdpCases {
		names = append(names, c.name)
		reqs = append(reqs, [][]byte{describeReq.bytes()})
		cams = append(cams, []byte(describeAnswer(c.sdp, "Content-Base: rtsp://127.0.0.1:8554/cam/\r\n")))
	}
	for _, c := range passCases {
		if len(c.camera) > 10000 {
			continue // too slow split at every byte; the limits are tested above
		}
		names = append(names, c.name)
		reqs = append(reqs, [][]byte{c.req.bytes()})
		cams = append(cams, []byte(c.camera))
	}
	return names, reqs, cams
}

// TestAnySplit feeds every case split at every byte, and one byte per read,
// and wants the same output each time.
func TestAnySplit(t *testing.T) {
	names, reqs, cams := allStreams()
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			whole := runWrap(t, reqs[i], cams[i], nil, 4096)
			for at := 1; at < len(cams[i]); at++ {
				r := runWrap(t, reqs[i], cams[i], splitAt(at), 4096)
				if !bytes.Equal(r.out, whole.out) {
					t.Fatalf("split at %d:\n%q\nwant\n%q", at, r.out, whole.out)
				}
			}
			for _, rs := range []int{1, 3} {
				r := runWrap(t, reqs[i], cams[i], splitEvery(1), rs)
				if !bytes.Equal(r.out, whole.out) || !sameQuirks(r.quirks, whole.quirks) {
					t.Fatalf("byte by byte, reads of %d:\n%q\nwant\n%q", rs, r.out, whole.out)
				}
			}
		})
	}
}

// TestFramesWithAnswers mixes interleaved frames with answers that need
// repair: the frames must come out untouched, around the repaired answers.
func TestFramesWithAnswers(t *testing.T) {
	big := bytes.Repeat([]byte{0x80, 0x60, '$', 'R', 'T', 'S', 'P', '\n'}, 9000) // 72000 bytes, > maxHead
	frames := [][]byte{
		interleaved(0, []byte{0x80, 0x60, 0, 1, 'R', 'T', 'S', 'P'}),
		interleaved(1, []byte("RTSP/1.0 200 OK\n\n")),
		interleaved(0, nil),
		interleaved(0, big[:65535]),
		interleaved(2, []byte{'$', '$', '$', '$'}),
	}
	answer := "RTSP/1.0 200 OK\nCSeq: 1\n\n"
	repaired := "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"
	keepalive := "RTSP/1.0 200 OK\nCSeq: 2\n\n"
	keptalive := "RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n"
	request := "GET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 5\r\n\r\n"

	var in, want bytes.Buffer
	add := func(b []byte, out []byte) { in.Write(b); want.Write(out) }
	add(frames[0], frames[0])
	add([]byte(answer), []byte(repaired))
	add(frames[1], frames[1])
	add(frames[2], frames[2])
	add([]byte(request), []byte(request))
	add(frames[3], frames[3])
	add([]byte(keepalive), []byte(keptalive))
	add(frames[4], frames[4])
	add(frames[3], frames[3])

	reqs := [][]byte{
		optionsReq.bytes(),
		interleaved(1, []byte{0x81, 0xc9, 0, 1, 0, 0, 0, 1}), // our RTCP between requests
		testReq{method: base.GetParameter, url: camURL, cseq: 2}.bytes(),
	}
	for _, split := range []func([]byte) [][]byte{nil, splitEvery(1), splitEvery(5), splitEvery(1000), splitEvery(70000)} {
		for _, rs := range []int{1, 4, 4096, 100000} {
			r := runWrap(t, reqs, in.Bytes(), split, rs)
			if !bytes.Equal(r.out, want.Bytes()) {
				t.Fatalf("read size %d: output differs (%d bytes, want %d)", rs, len(r.out), want.Len())
			}
		}
	}
}

// TestMediaPathNoAllocs checks that frames go through without allocating.
func TestMediaPathNoAllocs(t *testing.T) {
	frame := interleaved(0, bytes.Repeat([]byte{0x80}, 1400))
	stream := bytes.Repeat(frame, 3)
	src := &loopConn{data: stream}
	c := Wrap(src, Options{})
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per read", allocs)
	}
}

// loopConn returns data over and over.
type loopConn struct {
	fakeConn
	data []byte
	pos  int
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.pos:])
	l.pos = (l.pos + n) % len(l.data)
	return n, nil
}

func BenchmarkMediaPath(b *testing.B) {
	frame := interleaved(0, bytes.Repeat([]byte{0x80}, 1400))
	stream := bytes.Repeat(frame, 64)
	for _, wrap := range []bool{false, true} {
		name := "raw"
		if wrap {
			name = "wrapped"
		}
		b.Run(name, func(b *testing.B) {
			var c interface{ Read([]byte) (int, error) } = &loopConn{data: stream}
			if wrap {
				c = Wrap(c.(*loopConn), Options{})
			}
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// stepConn plays a script of reads: data, or an error returned once.
type stepConn struct {
	fakeConn
	steps []any
}

func (s *stepConn) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	switch st := s.steps[0].(type) {
	case error:
		s.steps = s.steps[1:]
		return 0, st
	case []byte:
		n := copy(p, st)
		if n == len(st) {
			s.steps = s.steps[1:]
		} else {
			s.steps[0] = st[n:]
		}
		return n, nil
	}
	panic("bad step")
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestTimeoutKeepsPartialAnswer: a read deadline in the middle of an answer
// is reported, and the answer is still whole and repaired afterwards.
func TestTimeoutKeepsPartialAnswer(t *testing.T) {
	frame := interleaved(0, []byte{1, 2, 3})
	sc := &stepConn{steps: []any{
		frame[:2], timeoutErr{}, frame[2:],
		[]byte("RTSP/1.0 200 OK\nCSe"), timeoutErr{}, []byte("q: 1\n\n"),
	}}
	c := Wrap(sc, Options{})
	if _, err := c.Write(optionsReq.bytes()); err != nil {
		t.Fatal(err)
	}
	var out []byte
	timeouts := 0
	buf := make([]byte, 100)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			timeouts++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := string(frame) + "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"
	if string(out) != want || timeouts != 2 {
		t.Errorf("got %q after %d timeouts, want %q after 2", out, timeouts, want)
	}
}

// TestConcurrentUse reads while several goroutines write requests and RTCP
// frames, as gortsplib does; run with -race.
func TestConcurrentUse(t *testing.T) {
	var camera bytes.Buffer
	for i := 1; i <= 50; i++ {
		camera.WriteString("RTSP/1.0 200 OK\nCSeq: " + strconv.Itoa(i) + "\n\n")
		camera.Write(interleaved(0, bytes.Repeat([]byte{byte(i)}, 100)))
	}
	fc := newFakeConn(camera.Bytes(), splitEvery(7))
	c := Wrap(fc, Options{OnQuirk: func(Quirk) {}, OnResponse: func(*base.Response) {}})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; i <= 50; i++ {
			if _, err := c.Write(testReq{method: base.GetParameter, url: camURL, cseq: i}.bytes()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 50 {
			if _, err := c.Write(interleaved(1, []byte{0x81, 0xc9, 0, 1, 0, 0, 0, 1})); err != nil {
				t.Error(err)
			}
		}
	})
	out, err := io.ReadAll(c)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\r\n\r\n")); n != 50 {
		t.Errorf("%d answers out", n)
	}
}

// TestRequestsWrittenInPieces: our requests are remembered even when a
// write holds part of one, or several.
func TestRequestsWrittenInPieces(t *testing.T) {
	describe := describeReq.bytes()
	setup := setupTCPReq.bytes()
	var writes [][]byte
	for i := range describe {
		writes = append(writes, describe[i:i+1])
	}
	frame := interleaved(1, []byte{0x81, 0xc9, 0, 1})
	writes = append(writes, frame[:2], append(frame[2:len(frame):len(frame)], setup[:10]...), setup[10:])
	camera := describeAnswer(goodSDP, "Content-Base: live/\r\n") + setupAnswer("RTP/AVP/TCP;unicast")
	r := runWrap(t, writes, []byte(camera), nil, 4096)
	if !bytes.Equal(r.writes, bytes.Join(writes, nil)) {
		t.Error("writes changed")
	}
	if !sameQuirks(r.quirks, []Quirk{QContentBase, QNoInterleaved}) {
		t.Errorf("quirks %q", r.quirks)
	}
}
