package testpeer

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	fakeCamVideoPT      = 96
	fakeCamAudioPT      = 8
	fakeCamFrameDur     = 40 * time.Millisecond // 25 fps
	fakeCamFrameTicks   = 3600                  // 40 ms at 90 kHz
	fakeCamAudioDur     = 20 * time.Millisecond
	fakeCamAudioSamples = 160 // 20 ms at 8 kHz
	fakeCamGOP          = 25
	fakeCamClipFrames   = 100 // 4 s, a whole number of GOPs so the loop starts on an IDR
	fakeCamSRPeriod     = time.Second
	fakeCamTick         = 10 * time.Millisecond
	fakeCamPayloadMax   = 1200
	fakeCamWriteTimeout = 5 * time.Second
	fakeCamTimeout      = 60 // seconds, announced in the Session header
	fakeCamResolution   = "320x240"
	fakeCamClipVersion  = "v1"
	fakeCamTapoRealm    = "TP-LINK Streaming Media"
	// fakeCamPreload is how many session numbers StartFakeCamera asks
	// Resolution about, to make their clips before any client connects.
	fakeCamPreload = 4
)

// FakeCameraOptions configures a camera started by StartFakeCamera. The zero
// value is a well-behaved H.264 camera at /cam on 127.0.0.1: 320x240, 25 fps,
// a key frame every 25 frames, payload type 96, SPS and PPS both in the SDP
// and in band before each IDR. The other fields are faults to switch on.
type FakeCameraOptions struct {
	// Path is the mount path, "/cam" if empty.
	Path string
	// Host is the IP address to listen on (TCP and UDP), "127.0.0.1" if
	// empty; any 127.x.y.z works on Linux.
	Host string
	// Audio adds a PCMA track (payload type 8, 8 kHz, 20 ms packets of a
	// 500 Hz tone).
	Audio bool

	// NoInterleavedInReply answers a TCP SETUP with exactly
	// "RTP/AVP/TCP;unicast", without interleaved=; the camera still sends on
	// the channels the client asked for (2n, 2n+1 for track n if it did not).
	NoInterleavedInReply bool
	// UDPTransportJunk answers a UDP SETUP with
	// "RTP/AVP;unicast;client_port=A-B,ssrc=FFFFCCCC;server_port=C-D" and
	// still sends RTP to A and RTCP to B.
	UDPTransportJunk bool
	// SDPExtra lines are inserted at the end of the session-level part of
	// the SDP, before the first m= line, without their "\r\n".
	SDPExtra []string
	// SDP, if set, rewrites the whole SDP (with SDPExtra in it) before it
	// is sent; lines end in "\r\n".
	SDP func(def string) string
	// NoMarker never sets the RTP marker bit on video.
	NoMarker bool
	// NoSpropInSDP leaves sprop-parameter-sets out of the SDP fmtp line.
	NoSpropInSDP bool
	// NoInBandParams sends no SPS and PPS in band: IDR frames come alone.
	// With NoSpropInSDP too the stream cannot be decoded.
	NoInBandParams bool
	// Padding, if positive, pads every video RTP packet with that many
	// bytes (the padding bit set, RFC 3550 5.1), as some encoders do to
	// align packets.
	Padding int
	// Tapo behaves like a TP-Link Tapo camera: a request other than OPTIONS
	// without an Authorization header gets 401 with
	// `WWW-Authenticate: Digest realm="TP-LINK Streaming Media", nonce="…"`,
	// unless the host of its URL is 127.0.0.1, which is served without
	// authentication. An Authorization header is accepted unchecked. Give
	// the camera another Host (127.0.0.2) so that its own URL gets the 401.
	Tapo bool
	// StallAfter and StallFor make a busy encoder: StallAfter after the
	// first PLAY of a session the camera sends nothing for StallFor, then
	// sends at once everything that fell due meanwhile. RTP timestamps (and
	// sender reports) stay on the media clock. Once per session; StallFor
	// 0 means no stall.
	StallAfter, StallFor time.Duration
	// StallLate: after the stall the camera does not catch up but goes on
	// StallFor late for good (a busy encoder, Wi-Fi).
	StallLate bool
	// SenderReports sends an RTCP sender report per track every second of
	// media time (the first right after the first packets). Its NTP time is
	// the first PLAY's wall clock plus the media time, not the send time.
	SenderReports bool
	// SharedMedia behaves like a GStreamer shared media factory: while a
	// session plays only some of the tracks, DESCRIBE gets 503.
	SharedMedia bool
	// MaxSessions, if positive, answers 453 Not Enough Bandwidth to a SETUP
	// that would make more sessions than this exist at once.
	MaxSessions int
	// Resolution picks "WIDTHxHEIGHT" for the n-th DESCRIBE answered 200
	// (n counts from 0), and so the SPS and PPS that the session set up on
	// that connection gets; "320x240" for all if nil. StartFakeCamera makes
	// the clips for n = 0…3 up front; later new sizes are made on demand.
	Resolution func(n int) string
}

// FakeCamera is an RTSP server written in Go that acts as an IP camera and
// misbehaves as its options say, for faults GStreamer (StartCamera) cannot
// produce. Its video is a real H.264 clip made with ffmpeg (testsrc2), looped
// with continuous timestamps, so a decoder can check what comes through.
//
// Each connection may hold sessions; a session lives on the connection that
// made it and ends with it. Session timeouts are not enforced.
type FakeCamera struct {
	// Port is the TCP port on Host.
	Port int
	// URL is rtsp://HOST:PORT/path.
	URL string

	opt       FakeCameraOptions
	nonce     string
	ln        net.Listener
	udpRTP    *net.UDPConn
	udpRTCP   *net.UDPConn
	udpPorts  [2]int
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu         sync.Mutex
	closed     bool
	conns      map[*fakeConn]struct{}
	sessions   map[string]*fakeSession
	playing    int
	maxPlaying int
	describes  int
	requests   []string
	streams    map[string]*fakeStream
	errs       []string // failures inside the server, reported in cleanup
}

// StartFakeCamera makes the clips it needs (ffmpeg, cached across test
// binaries), starts listening on a free port and registers a cleanup that
// closes the camera.
func StartFakeCamera(t testing.TB, opt FakeCameraOptions) *FakeCamera {
	t.Helper()
	if opt.Path == "" {
		opt.Path = "/cam"
	}
	if !strings.HasPrefix(opt.Path, "/") {
		opt.Path = "/" + opt.Path
	}
	opt.Path = strings.TrimSuffix(opt.Path, "/")
	if opt.Host == "" {
		opt.Host = "127.0.0.1"
	}
	if net.ParseIP(opt.Host) == nil {
		t.Fatalf("testpeer: FakeCameraOptions.Host %q is not an IP address", opt.Host)
	}
	c := &FakeCamera{
		opt:      opt,
		nonce:    fmt.Sprintf("%016x", rand.Uint64()),
		conns:    map[*fakeConn]struct{}{},
		sessions: map[string]*fakeSession{},
		streams:  map[string]*fakeStream{},
	}
	sizes := []string{fakeCamResolution}
	if opt.Resolution != nil {
		for n := range fakeCamPreload {
			sizes = append(sizes, opt.Resolution(n))
		}
	}
	for _, s := range sizes {
		if _, err := c.stream(s); err != nil {
			t.Fatalf("testpeer: fake camera: %v", err)
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(opt.Host, "0"))
	if err != nil {
		t.Fatalf("testpeer: fake camera: %v", err)
	}
	c.ln = ln
	c.Port = ln.Addr().(*net.TCPAddr).Port
	c.URL = "rtsp://" + net.JoinHostPort(opt.Host, strconv.Itoa(c.Port)) + opt.Path
	if err := c.listenUDP(); err != nil {
		ln.Close()
		t.Fatalf("testpeer: fake camera: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.errs {
			t.Errorf("testpeer: fake camera %s: %s", c.URL, e)
		}
		if t.Failed() {
			t.Logf("testpeer: fake camera %s requests:\n%s", c.URL, strings.Join(c.requests, "\n"))
		}
	})

	c.wg.Go(c.acceptLoop)
	c.wg.Go(func() { fakeCamDrainUDP(c.udpRTP) })
	c.wg.Go(func() { fakeCamDrainUDP(c.udpRTCP) })
	return c
}

// Close stops listening, ends every connection and session and waits for
// all the camera's goroutines. It is idempotent.
func (c *FakeCamera) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		conns := make([]*fakeConn, 0, len(c.conns))
		for fc := range c.conns {
			conns = append(conns, fc)
		}
		c.mu.Unlock()
		c.ln.Close()
		c.udpRTP.Close()
		c.udpRTCP.Close()
		for _, fc := range conns {
			fc.nc.Close()
		}
		c.wg.Wait()
	})
}

// DropConnections closes every client connection now, as a camera that
// reboots would, and returns once their sessions are gone. The camera keeps
// listening.
func (c *FakeCamera) DropConnections() {
	c.mu.Lock()
	conns := make([]*fakeConn, 0, len(c.conns))
	for fc := range c.conns {
		conns = append(conns, fc)
	}
	c.mu.Unlock()
	for _, fc := range conns {
		fc.nc.Close()
	}
	for _, fc := range conns {
		<-fc.done
	}
}

// Sessions is the number of sessions playing now (PLAY, not yet PAUSE,
// TEARDOWN or disconnect).
func (c *FakeCamera) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.playing
}

// MaxConcurrent is the most sessions that ever played at once.
func (c *FakeCamera) MaxConcurrent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxPlaying
}

// Describes is the number of DESCRIBEs answered 200.
func (c *FakeCamera) Describes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.describes
}

// Requests returns "METHOD URL" for each request received so far, in order,
// with the URL as the client sent it ("OPTIONS *" for no URL).
func (c *FakeCamera) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

func (c *FakeCamera) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// listenUDP binds the server_port pair all UDP sessions share; RTP on an
// even port and RTCP on the next, as RFC 3550 wants.
func (c *FakeCamera) listenUDP() error {
	ip := net.ParseIP(c.opt.Host)
	for range 100 {
		rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return fmt.Errorf("listen UDP: %w", err)
		}
		port := rtpConn.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65534 {
			rtpConn.Close()
			continue
		}
		rtcpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port + 1})
		if err != nil {
			rtpConn.Close()
			continue
		}
		c.udpRTP, c.udpRTCP, c.udpPorts = rtpConn, rtcpConn, [2]int{port, port + 1}
		return nil
	}
	return errors.New("no free pair of UDP ports")
}

// fakeCamDrainUDP reads and drops what clients send (NAT punching, receiver
// reports) until the socket is closed.
func fakeCamDrainUDP(conn *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		if _, _, err := conn.ReadFromUDP(buf); err != nil {
			return
		}
	}
}

func (c *FakeCamera) acceptLoop() {
	for {
		nc, err := c.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{nc: nc, br: bufio.NewReader(nc), done: make(chan struct{})}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			nc.Close()
			return
		}
		c.conns[fc] = struct{}{}
		c.mu.Unlock()
		c.wg.Go(func() { c.serve(fc) })
	}
}

// fakeConn is one client connection. Responses (from serve) and
// interleaved frames (from senders) share it, hence the write lock.
type fakeConn struct {
	nc   net.Conn
	br   *bufio.Reader
	done chan struct{} // closed when serve has cleaned up

	wmu sync.Mutex

	// owned by serve
	stream   *fakeStream // from the last DESCRIBE on this connection
	sessions []*fakeSession
}

// write sends b whole or closes the connection: a client that stops
// reading must not block the camera forever.
func (fc *fakeConn) write(b []byte) error {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = fc.nc.SetWriteDeadline(time.Now().Add(fakeCamWriteTimeout))
	if _, err := fc.nc.Write(b); err != nil {
		fc.nc.Close()
		return err
	}
	return nil
}

func (c *FakeCamera) serve(fc *fakeConn) {
	defer func() {
		fc.nc.Close()
		for len(fc.sessions) > 0 {
			c.endSession(fc.sessions[0])
		}
		c.mu.Lock()
		delete(c.conns, fc)
		c.mu.Unlock()
		close(fc.done)
	}()
	for {
		b, err := fc.br.Peek(1)
		if err != nil {
			return
		}
		if b[0] == base.InterleavedFrameMagicByte {
			// RTCP receiver reports over TCP: not needed.
			var f base.InterleavedFrame
			if err := f.Unmarshal(fc.br); err != nil {
				return
			}
			continue
		}
		var req base.Request
		if err := req.Unmarshal(fc.br); err != nil {
			res := base.Response{StatusCode: base.StatusBadRequest, Header: base.Header{}}
			if buf, err := res.Marshal(); err == nil {
				_ = fc.write(buf)
			}
			return
		}
		res, after := c.handle(fc, &req)
		if cseq, ok := req.Header["CSeq"]; ok {
			res.Header["CSeq"] = cseq
		}
		res.Header["Server"] = base.HeaderValue{"rtspgate-fakecam"}
		buf, err := res.Marshal()
		if err != nil {
			c.fail("marshal response: %v", err)
			return
		}
		if err := fc.write(buf); err != nil {
			return
		}
		if after != nil {
			after()
		}
	}
}

func fakeStatus(code base.StatusCode) *base.Response {
	return &base.Response{StatusCode: code, Header: base.Header{}}
}

// handle answers one request. after, if not nil, runs once the response is
// written: media must not reach the client before the PLAY answer.
func (c *FakeCamera) handle(fc *fakeConn, req *base.Request) (res *base.Response, after func()) {
	rawURL := "*"
	if req.URL != nil {
		rawURL = req.URL.String()
	}
	c.mu.Lock()
	c.requests = append(c.requests, string(req.Method)+" "+rawURL)
	c.mu.Unlock()

	if c.opt.Tapo && req.Method != base.Options && req.URL != nil &&
		req.URL.Hostname() != "127.0.0.1" && len(req.Header["Authorization"]) == 0 {
		res := fakeStatus(base.StatusUnauthorized)
		res.Header["WWW-Authenticate"] = base.HeaderValue{
			fmt.Sprintf("Digest realm=%q, nonce=%q", fakeCamTapoRealm, c.nonce)}
		return res, nil
	}
	if req.URL == nil {
		if req.Method == base.Options {
			return c.handleOptions(), nil
		}
		return fakeStatus(base.StatusBadRequest), nil
	}
	if !c.pathMatches(req.URL.Path) {
		return fakeStatus(base.StatusNotFound), nil
	}

	switch req.Method {
	case base.Options:
		return c.handleOptions(), nil
	case base.Describe:
		return c.describe(fc, req), nil
	case base.Setup:
		return c.setup(fc, req), nil
	case base.Play:
		return c.play(fc, req)
	case base.Pause:
		s, res := c.sessionOf(fc, req)
		if s == nil {
			return res, nil
		}
		c.pause(s)
		return res, nil
	case base.Teardown:
		s, res := c.sessionOf(fc, req)
		if s == nil {
			return res, nil
		}
		c.endSession(s)
		return res, nil
	case base.GetParameter, base.SetParameter:
		// keepalives; a Session header is echoed, whatever it names
		res := fakeStatus(base.StatusOK)
		if v, ok := req.Header["Session"]; ok {
			res.Header["Session"] = v
		}
		return res, nil
	default:
		return fakeStatus(base.StatusNotImplemented), nil
	}
}

func (c *FakeCamera) handleOptions() *base.Response {
	res := fakeStatus(base.StatusOK)
	res.Header["Public"] = base.HeaderValue{
		"OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, GET_PARAMETER, SET_PARAMETER, TEARDOWN"}
	return res
}

func (c *FakeCamera) pathMatches(p string) bool {
	return p == c.opt.Path || strings.HasPrefix(p, c.opt.Path+"/")
}

func (c *FakeCamera) trackCount() int {
	if c.opt.Audio {
		return 2
	}
	return 1
}

// resolutionFor is the size for the n-th successful DESCRIBE.
func (c *FakeCamera) resolutionFor(n int) string {
	if c.opt.Resolution == nil {
		return fakeCamResolution
	}
	return c.opt.Resolution(n)
}

func (c *FakeCamera) describe(fc *fakeConn, req *base.Request) *base.Response {
	c.mu.Lock()
	if c.opt.SharedMedia {
		for _, s := range c.sessions {
			if s.playing && s.setupCount < c.trackCount() {
				c.mu.Unlock()
				return fakeStatus(base.StatusServiceUnavailable)
			}
		}
	}
	// Counted now, so two clients describing at once get different numbers.
	n := c.describes
	c.describes++
	c.mu.Unlock()

	st, err := c.stream(c.resolutionFor(n))
	if err != nil {
		c.mu.Lock()
		c.describes--
		c.mu.Unlock()
		c.fail("DESCRIBE: %v", err)
		return fakeStatus(base.StatusInternalServerError)
	}
	fc.stream = st

	res := fakeStatus(base.StatusOK)
	res.Header["Content-Type"] = base.HeaderValue{"application/sdp"}
	res.Header["Content-Base"] = base.HeaderValue{fakeCamWithSlash(req.URL.CloneWithoutCredentials().String())}
	res.Body = []byte(c.sdp(st))
	return res
}

func fakeCamWithSlash(s string) string {
	if strings.HasSuffix(s, "/") {
		return s
	}
	return s + "/"
}

func (c *FakeCamera) sdp(st *fakeStream) string {
	var b strings.Builder
	line := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=- %d 1 IN IP4 %s", rand.Uint32(), c.opt.Host)
	line("s=rtspgate fake camera")
	line("c=IN IP4 0.0.0.0")
	line("t=0 0")
	line("a=tool:rtspgate-fakecam")
	line("a=type:broadcast")
	line("a=control:*")
	line("a=range:npt=now-")
	for _, l := range c.opt.SDPExtra {
		line("%s", l)
	}
	fmtp := fmt.Sprintf("packetization-mode=1;profile-level-id=%02X%02X%02X", st.sps[1], st.sps[2], st.sps[3])
	if !c.opt.NoSpropInSDP {
		fmtp += ";sprop-parameter-sets=" + base64.StdEncoding.EncodeToString(st.sps) +
			"," + base64.StdEncoding.EncodeToString(st.pps)
	}
	line("m=video 0 RTP/AVP %d", fakeCamVideoPT)
	line("a=rtpmap:%d H264/90000", fakeCamVideoPT)
	line("a=fmtp:%d %s", fakeCamVideoPT, fmtp)
	line("a=framerate:25")
	line("a=control:trackID=0")
	if c.opt.Audio {
		line("m=audio 0 RTP/AVP %d", fakeCamAudioPT)
		line("a=rtpmap:%d PCMA/8000", fakeCamAudioPT)
		line("a=control:trackID=1")
	}
	if c.opt.SDP != nil {
		return c.opt.SDP(b.String())
	}
	return b.String()
}

// sessionOf finds the session a request names. The response is the one to
// send: 200 with the Session header if found, an error status if not.
func (c *FakeCamera) sessionOf(fc *fakeConn, req *base.Request) (*fakeSession, *base.Response) {
	var sh headers.Session
	if err := sh.Unmarshal(req.Header["Session"]); err != nil {
		return nil, fakeStatus(base.StatusSessionNotFound)
	}
	for _, s := range fc.sessions {
		if s.id == sh.Session {
			res := fakeStatus(base.StatusOK)
			res.Header["Session"] = base.HeaderValue{s.id}
			return s, res
		}
	}
	return nil, fakeStatus(base.StatusSessionNotFound)
}

func (c *FakeCamera) setup(fc *fakeConn, req *base.Request) *base.Response {
	i := strings.LastIndex(req.URL.Path, "/trackID=")
	if i < 0 {
		return fakeStatus(base.StatusNotFound)
	}
	track, err := strconv.Atoi(req.URL.Path[i+len("/trackID="):])
	if err != nil || track < 0 || track >= c.trackCount() {
		return fakeStatus(base.StatusNotFound)
	}
	var th headers.Transport
	if err := th.Unmarshal(req.Header["Transport"]); err != nil {
		return fakeStatus(base.StatusBadRequest)
	}
	if th.Profile != headers.TransportProfileAVP ||
		(th.Delivery != nil && *th.Delivery != headers.TransportDeliveryUnicast) ||
		(th.Protocol == headers.TransportProtocolUDP && th.ClientPorts == nil) {
		return fakeStatus(base.StatusUnsupportedTransport)
	}

	var s *fakeSession
	if _, ok := req.Header["Session"]; ok {
		var res *base.Response
		if s, res = c.sessionOf(fc, req); s == nil {
			return res
		}
	}
	c.mu.Lock()
	if s != nil && s.playing {
		c.mu.Unlock()
		return fakeStatus(base.StatusMethodNotValidInThisState)
	}
	if s == nil {
		if c.opt.MaxSessions > 0 && len(c.sessions) >= c.opt.MaxSessions {
			c.mu.Unlock()
			return fakeStatus(base.StatusNotEnoughBandwidth)
		}
		s = &fakeSession{cam: c, id: fmt.Sprintf("%016X", rand.Uint64()), conn: fc, stream: fc.stream}
		c.sessions[s.id] = s
		fc.sessions = append(fc.sessions, s)
	}
	c.mu.Unlock()
	if s.stream == nil {
		// SETUP without DESCRIBE on this connection: the next session's size
		st, err := c.stream(c.resolutionFor(c.Describes()))
		if err != nil {
			c.fail("SETUP: %v", err)
			return fakeStatus(base.StatusInternalServerError)
		}
		s.stream = st
	}

	tr := &fakeTrack{ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), tsBase: rand.Uint32()}
	var reply string
	if th.Protocol == headers.TransportProtocolTCP {
		tr.tcp = true
		tr.channel = 2 * track
		if th.InterleavedIDs != nil {
			tr.channel = th.InterleavedIDs[0]
		}
		reply = fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d;ssrc=%08X", tr.channel, tr.channel+1, tr.ssrc)
		if c.opt.NoInterleavedInReply {
			reply = "RTP/AVP/TCP;unicast"
		}
	} else {
		ip := fc.nc.RemoteAddr().(*net.TCPAddr).IP
		tr.rtpAddr = &net.UDPAddr{IP: ip, Port: th.ClientPorts[0]}
		tr.rtcpAddr = &net.UDPAddr{IP: ip, Port: th.ClientPorts[1]}
		reply = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d;ssrc=%08X",
			th.ClientPorts[0], th.ClientPorts[1], c.udpPorts[0], c.udpPorts[1], tr.ssrc)
		if c.opt.UDPTransportJunk {
			reply = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d,ssrc=FFFFCCCC;server_port=%d-%d",
				th.ClientPorts[0], th.ClientPorts[1], c.udpPorts[0], c.udpPorts[1])
		}
	}
	c.mu.Lock()
	if s.tracks[track] == nil {
		s.setupCount++
	}
	s.tracks[track] = tr
	c.mu.Unlock()

	res := fakeStatus(base.StatusOK)
	res.Header["Transport"] = base.HeaderValue{reply}
	res.Header["Session"] = base.HeaderValue{fmt.Sprintf("%s;timeout=%d", s.id, fakeCamTimeout)}
	return res
}

func (c *FakeCamera) play(fc *fakeConn, req *base.Request) (*base.Response, func()) {
	s, res := c.sessionOf(fc, req)
	if s == nil {
		return res, nil
	}
	c.mu.Lock()
	if s.setupCount == 0 {
		c.mu.Unlock()
		return fakeStatus(base.StatusMethodNotValidInThisState), nil
	}
	if s.playing {
		c.mu.Unlock()
		return res, nil
	}
	s.playing = true
	c.playing++
	c.maxPlaying = max(c.maxPlaying, c.playing)
	c.mu.Unlock()

	s.seek(time.Now())
	baseURL := fakeCamWithSlash(req.URL.CloneWithoutCredentials().String())
	var info []string
	for i, tr := range s.tracks {
		if tr == nil {
			continue
		}
		ts := tr.tsBase + uint32(s.nextAudio*fakeCamAudioSamples)
		if i == 0 {
			ts = tr.tsBase + uint32(s.nextFrame*fakeCamFrameTicks)
		}
		info = append(info, fmt.Sprintf("url=%strackID=%d;seq=%d;rtptime=%d", baseURL, i, tr.seq, ts))
	}
	res.Header["RTP-Info"] = base.HeaderValue{strings.Join(info, ",")}
	res.Header["Range"] = base.HeaderValue{"npt=0.000-"}
	return res, func() {
		stop, done := make(chan struct{}), make(chan struct{})
		s.stop, s.done = stop, done
		c.wg.Go(func() {
			defer close(done)
			s.run(stop)
		})
	}
}

// pause stops the session's sender; it is a no-op if it does not play.
func (c *FakeCamera) pause(s *fakeSession) {
	if s.stop != nil {
		close(s.stop)
		<-s.done
		s.stop, s.done = nil, nil
	}
	c.mu.Lock()
	if s.playing {
		s.playing = false
		c.playing--
	}
	c.mu.Unlock()
}

func (c *FakeCamera) endSession(s *fakeSession) {
	c.pause(s)
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	fc := s.conn
	for i, o := range fc.sessions {
		if o == s {
			fc.sessions = append(fc.sessions[:i], fc.sessions[i+1:]...)
			break
		}
	}
}

// fakeTrack is one set-up track of a session; its counters belong to the
// sender goroutine while the session plays.
type fakeTrack struct {
	tcp      bool
	channel  int // RTP; RTCP on channel+1
	rtpAddr  *net.UDPAddr
	rtcpAddr *net.UDPAddr

	ssrc    uint32
	seq     uint16
	tsBase  uint32
	packets uint32
	octets  uint32
}

// fakeSession is one RTSP session. Its fields are used by the connection's
// serve goroutine, and by the sender goroutine only between PLAY and the
// stop that waits for it; playing and setupCount also under FakeCamera.mu.
type fakeSession struct {
	cam    *FakeCamera
	id     string
	conn   *fakeConn
	stream *fakeStream
	tracks [2]*fakeTrack // video, audio

	playing    bool
	setupCount int

	stop chan struct{}
	done chan struct{}

	// The media timeline: event n of a kind is due at t0 + n*period.
	started   bool
	t0        time.Time
	nextFrame int64
	nextAudio int64
	nextSR    int64
	stallDone bool
}

// seek places the timeline for a PLAY: at 0 the first time; after a PAUSE
// at the next key frame at or after now, as a live camera would, keeping
// the clock (and so the RTP/NTP mapping) of the first PLAY.
func (s *fakeSession) seek(now time.Time) {
	if !s.started {
		s.started, s.t0 = true, now
		return
	}
	el := now.Sub(s.t0)
	ceil := func(d time.Duration) int64 { return int64((el + d - 1) / d) }
	s.nextFrame = max(s.nextFrame, (ceil(fakeCamFrameDur)+fakeCamGOP-1)/fakeCamGOP*fakeCamGOP)
	s.nextAudio = max(s.nextAudio, ceil(fakeCamAudioDur))
	s.nextSR = max(s.nextSR, ceil(fakeCamSRPeriod))
}

func (s *fakeSession) run(stop <-chan struct{}) {
	tick := time.NewTicker(fakeCamTick)
	defer tick.Stop()
	if !s.step(time.Now()) {
		return
	}
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if !s.step(now) {
				return
			}
		}
	}
}

type fakeEvent int

const (
	fakeEventNone fakeEvent = iota
	fakeEventVideo
	fakeEventAudio
	fakeEventSR
)

// step sends every event due by now, in media-time order, except those
// held back by a stall. It returns false once the connection is gone.
func (s *fakeSession) step(now time.Time) bool {
	opt := &s.cam.opt
	limit := now.Sub(s.t0)
	if opt.StallFor > 0 && !s.stallDone {
		switch {
		case limit >= opt.StallAfter+opt.StallFor && opt.StallLate:
			limit -= opt.StallFor // from now on everything comes late
		case limit >= opt.StallAfter+opt.StallFor:
			s.stallDone = true
		case limit >= opt.StallAfter:
			limit = opt.StallAfter - 1
		}
	}
	for {
		ev, due := s.nextEvent()
		if ev == fakeEventNone || due > limit {
			return true
		}
		var err error
		switch ev {
		case fakeEventVideo:
			err = s.sendFrame()
		case fakeEventAudio:
			err = s.sendAudio()
		case fakeEventSR:
			err = s.sendReports()
		}
		if err != nil {
			return false
		}
	}
}

// nextEvent is the earliest unsent event; media goes before a sender report
// due at the same time, so the report counts it.
func (s *fakeSession) nextEvent() (fakeEvent, time.Duration) {
	ev, due := fakeEventNone, time.Duration(0)
	consider := func(e fakeEvent, d time.Duration) {
		if ev == fakeEventNone || d < due {
			ev, due = e, d
		}
	}
	if s.tracks[0] != nil {
		consider(fakeEventVideo, time.Duration(s.nextFrame)*fakeCamFrameDur)
	}
	if s.tracks[1] != nil {
		consider(fakeEventAudio, time.Duration(s.nextAudio)*fakeCamAudioDur)
	}
	if s.cam.opt.SenderReports {
		consider(fakeEventSR, time.Duration(s.nextSR)*fakeCamSRPeriod)
	}
	return ev, due
}

func (s *fakeSession) sendFrame() error {
	tr := s.tracks[0]
	frames := s.stream.frames
	ts := tr.tsBase + uint32(s.nextFrame*fakeCamFrameTicks)
	for _, p := range frames[s.nextFrame%int64(len(frames))] {
		pkt := rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         p.marker && !s.cam.opt.NoMarker,
				PayloadType:    fakeCamVideoPT,
				SequenceNumber: tr.seq,
				Timestamp:      ts,
				SSRC:           tr.ssrc,
			},
			Payload: p.data,
		}
		if n := s.cam.opt.Padding; n > 0 {
			pkt.Padding, pkt.Header.PaddingSize = true, byte(n)
		}
		if err := s.sendRTP(tr, &pkt); err != nil {
			return err
		}
	}
	s.nextFrame++
	return nil
}

func (s *fakeSession) sendAudio() error {
	tr := s.tracks[1]
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			PayloadType:    fakeCamAudioPT,
			SequenceNumber: tr.seq,
			Timestamp:      tr.tsBase + uint32(s.nextAudio*fakeCamAudioSamples),
			SSRC:           tr.ssrc,
		},
		Payload: fakeCamPCMA,
	}
	s.nextAudio++
	return s.sendRTP(tr, &pkt)
}

func (s *fakeSession) sendRTP(tr *fakeTrack, pkt *rtp.Packet) error {
	buf, err := pkt.Marshal()
	if err != nil {
		return err
	}
	tr.seq++
	tr.packets++
	tr.octets += uint32(len(pkt.Payload))
	return s.send(tr, false, buf)
}

// sendReports sends one sender report per track for media time
// nextSR seconds, whenever that is sent.
func (s *fakeSession) sendReports() error {
	k := s.nextSR
	s.nextSR++
	ntpTime := ntp.Encode(s.t0.Add(time.Duration(k) * fakeCamSRPeriod))
	for i, tr := range s.tracks {
		if tr == nil {
			continue
		}
		rate := int64(8000)
		if i == 0 {
			rate = 90000
		}
		sr := rtcp.SenderReport{
			SSRC:        tr.ssrc,
			NTPTime:     ntpTime,
			RTPTime:     tr.tsBase + uint32(k*rate*int64(fakeCamSRPeriod/time.Second)),
			PacketCount: tr.packets,
			OctetCount:  tr.octets,
		}
		buf, err := sr.Marshal()
		if err != nil {
			return err
		}
		if err := s.send(tr, true, buf); err != nil {
			return err
		}
	}
	return nil
}

// send writes one RTP or RTCP packet on the track's transport. UDP errors
// are dropped: a datagram to a gone client is simply lost.
func (s *fakeSession) send(tr *fakeTrack, isRTCP bool, buf []byte) error {
	if tr.tcp {
		ch := tr.channel
		if isRTCP {
			ch++
		}
		frame, err := base.InterleavedFrame{Channel: ch, Payload: buf}.Marshal()
		if err != nil {
			return err
		}
		return s.conn.write(frame)
	}
	if isRTCP {
		_, _ = s.cam.udpRTCP.WriteToUDP(buf, tr.rtcpAddr)
	} else {
		_, _ = s.cam.udpRTP.WriteToUDP(buf, tr.rtpAddr)
	}
	return nil
}

// fakeStream is a clip packetized for one camera's options.
type fakeStream struct {
	size     string
	sps, pps []byte
	frames   [][]fakePayload // RTP payloads of each frame
}

type fakePayload struct {
	data   []byte
	marker bool
}

// stream returns the packetized clip of size "WxH", made on first use.
func (c *FakeCamera) stream(size string) (*fakeStream, error) {
	c.mu.Lock()
	st, ok := c.streams[size]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	clip, err := loadFakeCamClip(size)
	if err != nil {
		return nil, err
	}
	enc := &rtph264.Encoder{PayloadType: fakeCamVideoPT, PayloadMaxSize: fakeCamPayloadMax, PacketizationMode: 1}
	if err := enc.Init(); err != nil {
		return nil, err
	}
	st = &fakeStream{size: size, sps: clip.sps, pps: clip.pps}
	for i, au := range clip.frames {
		if clip.idr[i] && !c.opt.NoInBandParams {
			au = append([][]byte{clip.sps, clip.pps}, au...)
		}
		pkts, err := enc.Encode(au)
		if err != nil {
			return nil, fmt.Errorf("packetize clip %s: %w", size, err)
		}
		pls := make([]fakePayload, len(pkts))
		for j, p := range pkts {
			pls[j] = fakePayload{data: p.Payload, marker: p.Marker}
		}
		st.frames = append(st.frames, pls)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.streams[size]; ok {
		return old, nil
	}
	c.streams[size] = st
	return st, nil
}

// fakeCamClip is a looping H.264 clip split into access units.
type fakeCamClip struct {
	sps, pps []byte
	frames   [][][]byte // NAL units of each access unit, without SPS and PPS
	idr      []bool
}

// fakeCamClips caches loadFakeCamClip's clips per size for the test binary.
var fakeCamClips struct {
	mu    sync.Mutex
	clips map[string]*fakeCamClip
}

// loadFakeCamClip returns the clip of size "WxH": 4 s of testsrc2 at 25 fps,
// baseline profile, an IDR every 25 frames. The Annex-B file is kept in the
// system temp dir (rtspgate-testpeer/) like TestClip's.
func loadFakeCamClip(size string) (*fakeCamClip, error) {
	var w, h int
	if n, err := fmt.Sscanf(size, "%dx%d", &w, &h); err != nil || n != 2 || w <= 0 || h <= 0 ||
		fmt.Sprintf("%dx%d", w, h) != size {
		return nil, fmt.Errorf("resolution %q is not WIDTHxHEIGHT", size)
	}
	fakeCamClips.mu.Lock()
	defer fakeCamClips.mu.Unlock()
	if clip, ok := fakeCamClips.clips[size]; ok {
		return clip, nil
	}
	dir := filepath.Join(os.TempDir(), "rtspgate-testpeer")
	path := filepath.Join(dir, fmt.Sprintf("fakecam-%s-%s.h264", fakeCamClipVersion, size))
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		if err := makeFakeCamClip(dir, path, size); err != nil {
			return nil, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fake camera clip: %w", err)
	}
	clip, err := parseFakeCamClip(data)
	if err != nil {
		return nil, fmt.Errorf("fake camera clip %s: %w", path, err)
	}
	if fakeCamClips.clips == nil {
		fakeCamClips.clips = map[string]*fakeCamClip{}
	}
	fakeCamClips.clips[size] = clip
	return clip, nil
}

// makeFakeCamClip encodes the camera's clip of one size.
func makeFakeCamClip(dir, path, size string) error {
	return encodeOnce(dir, path, "fake camera clip", func(out string) []string {
		return []string{
			"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=25",
			"-frames:v", strconv.Itoa(fakeCamClipFrames),
			"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
			"-g", strconv.Itoa(fakeCamGOP), "-keyint_min", strconv.Itoa(fakeCamGOP), "-sc_threshold", "0", "-bf", "0",
			"-crf", "28", "-x264-params", "repeat-headers=1",
			"-f", "h264", out,
		}
	})
}

// parseFakeCamClip splits an Annex-B stream into access units and checks that
// it loops cleanly: an IDR exactly every fakeCamGOP frames.
func parseFakeCamClip(data []byte) (*fakeCamClip, error) {
	clip := &fakeCamClip{}
	var cur [][]byte
	hasVCL, idr := false, false
	flush := func() {
		if len(cur) > 0 {
			clip.frames = append(clip.frames, cur)
			clip.idr = append(clip.idr, idr)
		}
		cur, hasVCL, idr = nil, false, false
	}
	for _, nalu := range fakeCamSplitAnnexB(data) {
		typ := nalu[0] & 0x1f
		vcl := typ >= 1 && typ <= 5
		// A slice with first_mb_in_slice 0 (ue(v) "1") starts a picture; so
		// does an AUD, SPS, PPS or SEI after one.
		if hasVCL && ((vcl && len(nalu) > 1 && nalu[1]&0x80 != 0) || (typ >= 6 && typ <= 9)) {
			flush()
		}
		switch typ {
		case 7:
			if clip.sps == nil {
				clip.sps = nalu
			}
		case 8:
			if clip.pps == nil {
				clip.pps = nalu
			}
		case 9: // AUDs are dropped; the marker bit delimits frames
		default:
			cur = append(cur, nalu)
		}
		if vcl {
			hasVCL = true
		}
		if typ == 5 {
			idr = true
		}
	}
	flush()
	if len(clip.sps) < 4 || clip.pps == nil {
		return nil, errors.New("no SPS or PPS")
	}
	if len(clip.frames) == 0 || len(clip.frames)%fakeCamGOP != 0 {
		return nil, fmt.Errorf("%d frames, want a multiple of %d", len(clip.frames), fakeCamGOP)
	}
	for i, k := range clip.idr {
		if k != (i%fakeCamGOP == 0) {
			return nil, fmt.Errorf("frame %d: IDR %v, want an IDR exactly every %d frames", i, k, fakeCamGOP)
		}
	}
	return clip, nil
}

// fakeCamSplitAnnexB returns the NAL units between start codes. Emulation
// prevention keeps 00 00 01 out of NAL units, so a plain scan is exact.
func fakeCamSplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	add := func(end int) {
		if start < 0 {
			return
		}
		n := b[start:end]
		for len(n) > 0 && n[len(n)-1] == 0 { // the zero_byte of a 4-byte start code
			n = n[:len(n)-1]
		}
		if len(n) > 0 {
			nalus = append(nalus, n)
		}
	}
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			add(i)
			start = i + 3
			i += 2
		}
	}
	add(len(b))
	return nalus
}

// fakeCamPCMA is one 20 ms PCMA packet of a 500 Hz tone; 160 samples are
// exactly 10 periods, so every packet is the same.
var fakeCamPCMA = func() []byte {
	b := make([]byte, fakeCamAudioSamples)
	for i := range b {
		b[i] = fakeCamALaw(int16(8000 * math.Sin(2*math.Pi*500*float64(i)/8000)))
	}
	return b
}()

// fakeCamALaw is G.711 A-law: a 12-bit magnitude as a 3-bit segment and a
// 4-bit mantissa, sign bit set for positive, even bits inverted.
func fakeCamALaw(s int16) byte {
	sign := byte(0x80)
	v := int(s)
	if v < 0 {
		sign, v = 0, -v
	}
	v = min(v>>3, 0xfff)
	var code byte
	if v < 32 {
		code = byte(v >> 1)
	} else {
		seg := bits.Len(uint(v)) - 5
		code = byte(seg<<4) | byte((v>>seg)&0x0f)
	}
	return (sign | code) ^ 0x55
}
