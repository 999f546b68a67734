package testpeer

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// fakeCamClient is a started gortsplib client that dials hostPort (the
// camera's host:port, whatever the URLs it is given say).
func fakeCamClient(t *testing.T, hostPort string, proto gortsplib.Protocol) *gortsplib.Client {
	t.Helper()
	c := &gortsplib.Client{Scheme: "rtsp", Host: hostPort, Protocol: &proto, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func fakeCamHostPort(cam *FakeCamera) string {
	return net.JoinHostPort(cam.opt.Host, strconv.Itoa(cam.Port))
}

func fakeCamURL(t *testing.T, s string) *base.URL {
	t.Helper()
	u, err := base.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fakeCamPlay describes cam, sets up the video media (and the others if all)
// over TCP and returns the client before PLAY, so callbacks can be added.
func fakeCamPlay(t *testing.T, cam *FakeCamera, all bool) (*gortsplib.Client, *description.Session, *description.Media, *format.H264) {
	t.Helper()
	c := fakeCamClient(t, fakeCamHostPort(cam), gortsplib.ProtocolTCP)
	desc, _, err := c.Describe(fakeCamURL(t, cam.URL))
	if err != nil {
		t.Fatal(err)
	}
	var h264 *format.H264
	video := desc.FindFormat(&h264)
	if video == nil {
		t.Fatalf("no H.264 in %+v", desc)
	}
	if all {
		err = c.SetupAll(desc.BaseURL, desc.Medias)
	} else {
		_, err = c.Setup(desc.BaseURL, video, 0, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, desc, video, h264
}

func fakeCamStatus(err error) base.StatusCode {
	var bs liberrors.ErrClientBadStatusCode
	if errors.As(err, &bs) {
		return bs.Code
	}
	return 0
}

// fakeCamWait polls cond for up to 5 s.
func fakeCamWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeCamFirstIDR plays the video of cam and returns the SDP's SPS (nil if none)
// and the first access unit that holds an IDR slice.
func fakeCamFirstIDR(t *testing.T, cam *FakeCamera) (sdpSPS []byte, au [][]byte) {
	t.Helper()
	c, _, video, h264 := fakeCamPlay(t, cam, false)
	dec, err := h264.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan [][]byte, 1)
	c.OnPacketRTP(video, h264, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		for _, n := range au {
			if n[0]&0x1f == 5 {
				select {
				case got <- au:
				default:
				}
				return
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case au = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no IDR access unit in 5 s")
	}
	c.Close()
	return h264.SPS, au
}

func fakeCamNALTypes(au [][]byte) []int {
	var types []int
	for _, n := range au {
		types = append(types, int(n[0]&0x1f))
	}
	return types
}

func TestFakeCameraDecode(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{Audio: true})
	if want := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", cam.Port); cam.URL != want {
		t.Errorf("URL = %q, want %q", cam.URL, want)
	}
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			streams, err := FFprobe(t.Context(), cam.URL, transport)
			if err != nil {
				t.Fatal(err)
			}
			if len(streams) != 2 ||
				streams[0].CodecName != "h264" || streams[0].Width != 320 || streams[0].Height != 240 ||
				streams[1].CodecName != "pcm_alaw" || streams[1].SampleRate != "8000" {
				t.Errorf("streams = %+v, want h264 320x240 + pcm_alaw 8000", streams)
			}
			wantDecoded(t, cam.URL, transport)
		})
	}
}

func TestFakeCameraNoMarker(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{NoMarker: true})

	c, _, video, h264 := fakeCamPlay(t, cam, false)
	var mu sync.Mutex
	packets, markers := 0, 0
	c.OnPacketRTP(video, h264, func(pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		packets++
		if pkt.Marker {
			markers++
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}

	wantDecoded(t, cam.URL, "tcp")
	mu.Lock()
	defer mu.Unlock()
	if packets < 50 || markers != 0 {
		t.Errorf("%d packets, %d with the marker bit; want many, none", packets, markers)
	}
}

func TestFakeCameraParamSets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		opt                 FakeCameraOptions
		wantSprop, wantBand bool
	}{
		{"both", FakeCameraOptions{}, true, true},
		{"sdp-only", FakeCameraOptions{NoInBandParams: true}, true, false},
		{"inband-only", FakeCameraOptions{NoSpropInSDP: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cam := StartFakeCamera(t, tc.opt)
			sps, au := fakeCamFirstIDR(t, cam)
			if (sps != nil) != tc.wantSprop {
				t.Errorf("SPS in the SDP: %v, want %v", sps != nil, tc.wantSprop)
			}
			types := fakeCamNALTypes(au)
			inBand := len(types) >= 3 && types[0] == 7 && types[1] == 8
			if inBand != tc.wantBand {
				t.Errorf("IDR access unit NAL types %v; SPS and PPS in band: %v, want %v", types, inBand, tc.wantBand)
			}
			wantDecoded(t, cam.URL, "tcp")
		})
	}
}

func TestFakeCameraResolution(t *testing.T) {
	t.Parallel()
	second := func(n int) string {
		if n == 0 {
			return "320x240"
		}
		return "640x360"
	}
	t.Run("ffprobe", func(t *testing.T) {
		t.Parallel()
		cam := StartFakeCamera(t, FakeCameraOptions{Resolution: second})
		for i, want := range []int{320, 640} {
			streams, err := FFprobe(t.Context(), cam.URL, "tcp")
			if err != nil {
				t.Fatal(err)
			}
			if len(streams) != 1 || streams[0].Width != want {
				t.Errorf("session %d: streams %+v, want width %d", i, streams, want)
			}
		}
		if n := cam.Describes(); n != 2 {
			t.Errorf("Describes() = %d, want 2", n)
		}
	})
	t.Run("sprop", func(t *testing.T) {
		t.Parallel()
		cam := StartFakeCamera(t, FakeCameraOptions{Resolution: second, NoInBandParams: true})
		sps0, au0 := fakeCamFirstIDR(t, cam)
		sps1, au1 := fakeCamFirstIDR(t, cam)
		if sps0 == nil || sps1 == nil || bytes.Equal(sps0, sps1) {
			t.Errorf("sprop SPS %x then %x, want two different ones", sps0, sps1)
		}
		if fakeCamNALTypes(au0)[0] == 7 || fakeCamNALTypes(au1)[0] == 7 {
			t.Errorf("SPS in band with NoInBandParams")
		}
	})
	t.Run("inband", func(t *testing.T) {
		t.Parallel()
		cam := StartFakeCamera(t, FakeCameraOptions{Resolution: second, NoSpropInSDP: true})
		_, au0 := fakeCamFirstIDR(t, cam)
		_, au1 := fakeCamFirstIDR(t, cam)
		if fakeCamNALTypes(au0)[0] != 7 || fakeCamNALTypes(au1)[0] != 7 || bytes.Equal(au0[0], au1[0]) {
			t.Errorf("in-band SPS %x then %x, want two different ones", au0[0], au1[0])
		}
	})
}

// TestFakeCameraStall checks the busy encoder: nothing arrives during the
// stall, then a burst, with RTP timestamps and sender reports on the media
// clock throughout.
func TestFakeCameraStall(t *testing.T) {
	t.Parallel()
	const after, stall = 900 * time.Millisecond, 1200 * time.Millisecond
	cam := StartFakeCamera(t, FakeCameraOptions{StallAfter: after, StallFor: stall, SenderReports: true})
	c, _, video, h264 := fakeCamPlay(t, cam, false)

	type arrival struct {
		at time.Time
		ts uint32
	}
	type report struct {
		at       time.Time
		ntp      time.Time
		rtp      uint32
		received uint32
	}
	var mu sync.Mutex
	var frames []arrival // first packet of each frame
	var reports []report
	c.OnPacketRTP(video, h264, func(pkt *rtp.Packet) {
		mu.Lock()
		defer mu.Unlock()
		if len(frames) == 0 || frames[len(frames)-1].ts != pkt.Timestamp {
			frames = append(frames, arrival{time.Now(), pkt.Timestamp})
		}
	})
	c.OnPacketRTCP(video, func(p rtcp.Packet) {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, report{time.Now(), ntp.Decode(sr.NTPTime), sr.RTPTime, sr.PacketCount})
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(after + stall + time.Second)
	c.Close()

	mu.Lock()
	defer mu.Unlock()
	if len(frames) < 60 {
		t.Fatalf("%d frames in %v, want about 77", len(frames), after+stall+time.Second)
	}
	gapAt, gap := 0, time.Duration(0)
	for i := 1; i < len(frames); i++ {
		if d := frames[i].ts - frames[i-1].ts; d != fakeCamFrameTicks {
			t.Errorf("frame %d: timestamp step %d, want %d", i, d, fakeCamFrameTicks)
		}
		if d := frames[i].at.Sub(frames[i-1].at); d > gap {
			gapAt, gap = i, d
		}
	}
	t.Logf("longest gap %v before frame %d at %v", gap, gapAt, frames[gapAt].at.Sub(frames[0].at))
	// The upper bound is loose: a loaded machine (-race, parallel ffmpeg)
	// delays the client too.
	if gap < stall-300*time.Millisecond || gap > stall+time.Second {
		t.Errorf("longest arrival gap %v, want about %v", gap, stall)
	}
	burst := 0
	for _, f := range frames[gapAt:] {
		if f.at.Sub(frames[gapAt].at) < 500*time.Millisecond {
			burst++
		}
	}
	if burst < 25 {
		t.Errorf("%d frames within 500 ms after the stall, want the ~30 held back", burst)
	}

	if len(reports) < 3 {
		t.Fatalf("%d sender reports, want one a second", len(reports))
	}
	if reports[0].rtp != frames[0].ts {
		t.Errorf("first report RTP time %d, first frame %d", reports[0].rtp, frames[0].ts)
	}
	late := false
	for i, r := range reports[1:] {
		media := time.Duration(r.rtp-reports[0].rtp) * time.Second / 90000
		if d := r.ntp.Sub(reports[0].ntp) - media; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("report %d: NTP %v after the first but RTP %v", i+1, r.ntp.Sub(reports[0].ntp), media)
		}
		if r.at.Sub(reports[0].at)-media > stall/2 {
			late = true
		}
	}
	if !late {
		t.Errorf("no sender report arrived late: %+v", reports)
	}
}

func TestFakeCameraTapo(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{Host: "127.0.0.2", Tapo: true})
	hostPort := fakeCamHostPort(cam)

	c := fakeCamClient(t, hostPort, gortsplib.ProtocolTCP)
	_, res, err := c.Describe(fakeCamURL(t, cam.URL))
	if fakeCamStatus(err) != base.StatusUnauthorized || res == nil {
		t.Fatalf("DESCRIBE %s: %v, want 401", cam.URL, err)
	}
	auth := strings.Join(res.Header["WWW-Authenticate"], "|")
	if !regexp.MustCompile(`^Digest realm="TP-LINK Streaming Media", nonce="[0-9a-f]+"$`).MatchString(auth) {
		t.Errorf("WWW-Authenticate = %q", auth)
	}

	local := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", cam.Port)
	c2 := fakeCamClient(t, hostPort, gortsplib.ProtocolTCP)
	desc, _, err := c2.Describe(fakeCamURL(t, local))
	if err != nil {
		t.Fatalf("DESCRIBE %s via %s: %v", local, hostPort, err)
	}
	if err := c2.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	c2.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := c2.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no RTP after PLAY")
	}
	reqs := strings.Join(cam.Requests(), "\n")
	for _, want := range []string{"DESCRIBE " + cam.URL, "DESCRIBE " + local, "PLAY " + local + "/"} {
		if !strings.Contains(reqs, want+"\n") && !strings.HasSuffix(reqs, want) {
			t.Errorf("requests lack %q:\n%s", want, reqs)
		}
	}
	if n := cam.Describes(); n != 1 {
		t.Errorf("Describes() = %d, want 1", n)
	}
}

func TestFakeCameraSharedMedia(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{Audio: true, SharedMedia: true})
	u := fakeCamURL(t, cam.URL)

	a, _, _, _ := fakeCamPlay(t, cam, false)
	if _, err := a.Play(nil); err != nil {
		t.Fatal(err)
	}
	b := fakeCamClient(t, fakeCamHostPort(cam), gortsplib.ProtocolTCP)
	if _, _, err := b.Describe(u); fakeCamStatus(err) != base.StatusServiceUnavailable {
		t.Errorf("DESCRIBE while a session plays video only: %v, want 503", err)
	}
	a.Close()
	fakeCamWait(t, "no session", func() bool { return cam.Sessions() == 0 })

	all, _, _, _ := fakeCamPlay(t, cam, true)
	if _, err := all.Play(nil); err != nil {
		t.Fatal(err)
	}
	c := fakeCamClient(t, fakeCamHostPort(cam), gortsplib.ProtocolTCP)
	if _, _, err := c.Describe(u); err != nil {
		t.Errorf("DESCRIBE while a session plays every track: %v", err)
	}
}

func TestFakeCameraMaxSessions(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{MaxSessions: 1})
	a, _, _, _ := fakeCamPlay(t, cam, true)
	if _, err := a.Play(nil); err != nil {
		t.Fatal(err)
	}

	b := fakeCamClient(t, fakeCamHostPort(cam), gortsplib.ProtocolTCP)
	desc, _, err := b.Describe(fakeCamURL(t, cam.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetupAll(desc.BaseURL, desc.Medias); fakeCamStatus(err) != base.StatusNotEnoughBandwidth {
		t.Errorf("second SETUP: %v, want 453", err)
	}
	if n := cam.Sessions(); n != 1 {
		t.Errorf("Sessions() = %d, want 1", n)
	}
	a.Close()
	fakeCamWait(t, "no session", func() bool { return cam.Sessions() == 0 })

	c, _, _, _ := fakeCamPlay(t, cam, true)
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	if n, m := cam.Sessions(), cam.MaxConcurrent(); n != 1 || m != 1 {
		t.Errorf("Sessions() = %d, MaxConcurrent() = %d, want 1 and 1", n, m)
	}
}

func TestFakeCameraDropConnections(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{Audio: true})
	a, _, _, _ := fakeCamPlay(t, cam, true)
	if _, err := a.Play(nil); err != nil {
		t.Fatal(err)
	}
	fakeCamWait(t, "a session", func() bool { return cam.Sessions() == 1 })
	cam.DropConnections()
	if n := cam.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after DropConnections, want 0", n)
	}
	ended := make(chan error, 1)
	go func() { ended <- a.Wait() }()
	select {
	case err := <-ended:
		t.Logf("client ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Errorf("client still connected 5 s after DropConnections")
	}

	b, _, _, _ := fakeCamPlay(t, cam, true)
	if _, err := b.Play(nil); err != nil {
		t.Fatalf("camera does not serve after DropConnections: %v", err)
	}
	if n := cam.MaxConcurrent(); n != 1 {
		t.Errorf("MaxConcurrent() = %d, want 1", n)
	}
}

func TestFakeCameraSDP(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{
		SDPExtra: []string{"a=x-fake:1"},
		SDP: func(def string) string {
			return strings.Replace(def, "s=rtspgate fake camera\r\n", "s=hooked\r\n", 1)
		},
	})
	c := fakeCamClient(t, fakeCamHostPort(cam), gortsplib.ProtocolTCP)
	_, res, err := c.Describe(fakeCamURL(t, cam.URL))
	if err != nil {
		t.Fatal(err)
	}
	sdp := string(res.Body)
	extra, media := strings.Index(sdp, "\r\na=x-fake:1\r\n"), strings.Index(sdp, "\r\nm=video")
	if extra < 0 || media < extra || !strings.Contains(sdp, "\r\ns=hooked\r\n") {
		t.Errorf("SDP lacks the extra line before m= or the hook's change:\n%s", sdp)
	}
	if cb := res.Header["Content-Base"]; len(cb) != 1 || cb[0] != cam.URL+"/" {
		t.Errorf("Content-Base = %q, want %q", cb, cam.URL+"/")
	}
}

// fakeCamSessionID is the id of a Session header value ("ID;timeout=60").
func fakeCamSessionID(t *testing.T, v string) string {
	t.Helper()
	var sh headers.Session
	if err := sh.Unmarshal(base.HeaderValue{v}); err != nil {
		t.Fatalf("Session %q: %v", v, err)
	}
	return sh.Session
}

// fakeCamNextRTP skips to the next interleaved RTP packet on channel ch.
func fakeCamNextRTP(t *testing.T, rc *RawClient, ch int) *rtp.Packet {
	t.Helper()
	for range 1000 {
		st, _, got, payload := rc.Next()
		if st != "" {
			t.Fatalf("response %q while waiting for RTP", st)
		}
		if got != ch {
			continue
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(payload); err != nil {
			t.Fatal(err)
		}
		return &pkt
	}
	t.Fatalf("no RTP on channel %d", ch)
	return nil
}

// TestFakeCameraProtocol walks through the methods by hand over TCP.
func TestFakeCameraProtocol(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{})
	rc := DialRaw(t, cam.URL)

	rc.Send("OPTIONS", cam.URL)
	if st, h := rc.Response(); st != "RTSP/1.0 200 OK" || !strings.Contains(h["public"], "GET_PARAMETER") {
		t.Errorf("OPTIONS: %q %v", st, h)
	}
	rc.Send("DESCRIBE", strings.TrimSuffix(cam.URL, "/cam")+"/other")
	if st, _ := rc.Response(); st != "RTSP/1.0 404 Not Found" {
		t.Errorf("DESCRIBE /other: %q", st)
	}
	rc.Send("DESCRIBE", cam.URL)
	if st, h := rc.Response(); st != "RTSP/1.0 200 OK" || h["content-type"] != "application/sdp" {
		t.Errorf("DESCRIBE: %q %v", st, h)
	}
	rc.Send("SETUP", cam.URL+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n", "Session: nope\r\n")
	if st, _ := rc.Response(); st != "RTSP/1.0 454 Session Not Found" {
		t.Errorf("SETUP in an unknown session: %q", st)
	}
	rc.Send("SETUP", cam.URL+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	st, h := rc.Response()
	if st != "RTSP/1.0 200 OK" || !regexp.MustCompile(`^RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=[0-9A-F]{8}$`).MatchString(h["transport"]) {
		t.Fatalf("SETUP: %q %v", st, h)
	}
	sess := "Session: " + fakeCamSessionID(t, h["session"]) + "\r\n"

	rc.Send("PLAY", cam.URL+"/", sess)
	if st, h := rc.Response(); st != "RTSP/1.0 200 OK" || !strings.Contains(h["rtp-info"], "trackID=0;seq=") {
		t.Fatalf("PLAY: %q %v", st, h)
	}
	if pkt := fakeCamNextRTP(t, rc, 0); pkt.PayloadType != 96 {
		t.Errorf("payload type %d, want 96", pkt.PayloadType)
	}
	rc.Send("GET_PARAMETER", cam.URL+"/", sess)
	if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
		t.Errorf("GET_PARAMETER: %q", st)
	}
	if n := cam.Sessions(); n != 1 {
		t.Errorf("Sessions() = %d while playing, want 1", n)
	}

	rc.Send("PAUSE", cam.URL+"/", sess)
	if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
		t.Errorf("PAUSE: %q", st)
	}
	if n := cam.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after PAUSE, want 0", n)
	}
	rc.Send("PLAY", cam.URL+"/", sess)
	if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
		t.Fatalf("PLAY after PAUSE: %q", st)
	}
	// Resuming starts at a key frame: SPS and PPS in a STAP-A first.
	if pkt := fakeCamNextRTP(t, rc, 0); len(pkt.Payload) < 4 || pkt.Payload[0]&0x1f != 24 || pkt.Payload[3]&0x1f != 7 {
		t.Errorf("first packet after resume: % x…, want a STAP-A with the SPS", pkt.Payload[:min(8, len(pkt.Payload))])
	}

	rc.Send("TEARDOWN", cam.URL+"/", sess)
	if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
		t.Errorf("TEARDOWN: %q", st)
	}
	if n, m := cam.Sessions(), cam.MaxConcurrent(); n != 0 || m != 1 {
		t.Errorf("Sessions() = %d, MaxConcurrent() = %d after TEARDOWN, want 0 and 1", n, m)
	}
	rc.Send("FROB", cam.URL)
	if st, _ := rc.Response(); st != "RTSP/1.0 501 Not Implemented" {
		t.Errorf("FROB: %q", st)
	}
	if reqs := cam.Requests(); len(reqs) != 11 || reqs[0] != "OPTIONS "+cam.URL || reqs[10] != "FROB "+cam.URL {
		t.Errorf("Requests() = %q", reqs)
	}
}

func TestFakeCameraNoInterleavedInReply(t *testing.T) {
	t.Parallel()
	cam := StartFakeCamera(t, FakeCameraOptions{NoInterleavedInReply: true, SenderReports: true})
	rc := DialRaw(t, cam.URL)
	rc.Send("DESCRIBE", cam.URL)
	rc.Response()
	rc.Send("SETUP", cam.URL+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=4-5\r\n")
	st, h := rc.Response()
	if st != "RTSP/1.0 200 OK" || h["transport"] != "RTP/AVP/TCP;unicast" {
		t.Fatalf("SETUP: %q, Transport %q, want 200 and exactly RTP/AVP/TCP;unicast", st, h["transport"])
	}
	rc.Send("PLAY", cam.URL+"/", "Session: "+fakeCamSessionID(t, h["session"])+"\r\n")
	if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
		t.Fatalf("PLAY: %q", st)
	}
	var rtpSeen, rtcpSeen bool
	for i := 0; i < 200 && !(rtpSeen && rtcpSeen); i++ {
		_, _, ch, payload := rc.Next()
		switch ch {
		case 4:
			rtpSeen = true
		case 5:
			pkts, err := rtcp.Unmarshal(payload)
			if err != nil {
				t.Fatal(err)
			}
			_, rtcpSeen = pkts[0].(*rtcp.SenderReport)
		default:
			t.Fatalf("frame on channel %d, want 4 or 5", ch)
		}
	}
	if !rtpSeen || !rtcpSeen {
		t.Errorf("RTP on 4: %v, sender report on 5: %v", rtpSeen, rtcpSeen)
	}
}

func TestFakeCameraUDPTransport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		junk bool
		want string // Transport regexp, %d the client ports
	}{
		{"normal", false, `^RTP/AVP;unicast;client_port=%d-%d;server_port=(\d+)-(\d+);ssrc=[0-9A-F]{8}$`},
		{"junk", true, `^RTP/AVP;unicast;client_port=%d-%d,ssrc=FFFFCCCC;server_port=(\d+)-(\d+)$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cam := StartFakeCamera(t, FakeCameraOptions{UDPTransportJunk: tc.junk, SenderReports: true})
			rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rtpConn.Close()
			rtcpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rtcpConn.Close()
			a, b := rtpConn.LocalAddr().(*net.UDPAddr).Port, rtcpConn.LocalAddr().(*net.UDPAddr).Port

			rc := DialRaw(t, cam.URL)
			rc.Send("DESCRIBE", cam.URL)
			rc.Response()
			rc.Send("SETUP", cam.URL+"/trackID=0", fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d\r\n", a, b))
			st, h := rc.Response()
			m := regexp.MustCompile(fmt.Sprintf(tc.want, a, b)).FindStringSubmatch(h["transport"])
			if st != "RTSP/1.0 200 OK" || m == nil {
				t.Fatalf("SETUP: %q, Transport %q, want %s", st, h["transport"], fmt.Sprintf(tc.want, a, b))
			}
			serverRTP, _ := strconv.Atoi(m[1])
			serverRTCP, _ := strconv.Atoi(m[2])
			rc.Send("PLAY", cam.URL+"/", "Session: "+fakeCamSessionID(t, h["session"])+"\r\n")
			if st, _ := rc.Response(); st != "RTSP/1.0 200 OK" {
				t.Fatalf("PLAY: %q", st)
			}

			buf := make([]byte, 2048)
			_ = rtpConn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := rtpConn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no RTP at client port %d: %v", a, err)
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.PayloadType != 96 || from.Port != serverRTP {
				t.Errorf("RTP from port %d (want %d): PT %d, %v", from.Port, serverRTP, pkt.PayloadType, err)
			}
			_ = rtcpConn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err = rtcpConn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no RTCP at client port %d: %v", b, err)
			}
			pkts, err := rtcp.Unmarshal(buf[:n])
			if err != nil || from.Port != serverRTCP {
				t.Fatalf("RTCP from port %d (want %d): %v", from.Port, serverRTCP, err)
			}
			if _, ok := pkts[0].(*rtcp.SenderReport); !ok {
				t.Errorf("RTCP %T, want a sender report", pkts[0])
			}
		})
	}
}

func TestFakeCameraPCMA(t *testing.T) {
	for _, tc := range []struct {
		in   int16
		want byte
	}{
		{0, 0xd5}, {-8, 0x55}, {256, 0xc5}, {1000, 0xfa}, {-1000, 0x7a},
		{5000, 0x86}, {-5000, 0x06}, {32767, 0xaa}, {-32768, 0x2a},
	} {
		if got := fakeCamALaw(tc.in); got != tc.want {
			t.Errorf("fakeCamALaw(%d) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}
