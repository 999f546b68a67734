package testpeer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

const onvifBackchannel = "www.onvif.org/ver20/backchannel"

// probeWant is what FFprobe must report for one camera.
type probeWant struct {
	video, audio string // codec names; audio "" means no audio stream
	sampleRate   string
}

func checkProbe(t *testing.T, streams []ProbeStream, want probeWant) {
	t.Helper()
	var video, audio []ProbeStream
	for _, s := range streams {
		switch s.CodecType {
		case "video":
			video = append(video, s)
		case "audio":
			audio = append(audio, s)
		}
	}
	if len(video) != 1 || video[0].CodecName != want.video || video[0].Width != 320 || video[0].Height != 240 {
		t.Errorf("video streams = %+v, want one %s 320x240", video, want.video)
	}
	switch {
	case want.audio == "" && len(audio) != 0:
		t.Errorf("audio streams = %+v, want none", audio)
	case want.audio != "" && (len(audio) != 1 || audio[0].CodecName != want.audio || audio[0].SampleRate != want.sampleRate):
		t.Errorf("audio streams = %+v, want one %s at %s Hz", audio, want.audio, want.sampleRate)
	}
}

func TestCameraCodecs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  CameraOptions
		want probeWant
	}{
		{"h264-pcma", CameraOptions{}, probeWant{"h264", "pcm_alaw", "8000"}},
		{"h264-aac", CameraOptions{Audio: "aac"}, probeWant{"h264", "aac", "48000"}},
		{"h265-none", CameraOptions{Video: "h265", Audio: "none", Path: "/other/path"}, probeWant{"hevc", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cam := StartCamera(t, tc.opt)
			wantPath := tc.opt.Path
			if wantPath == "" {
				wantPath = "/cam"
			}
			if want := fmt.Sprintf("rtsp://127.0.0.1:%d%s", cam.Port, wantPath); cam.URL != want {
				t.Errorf("URL = %q, want %q", cam.URL, want)
			}
			for _, transport := range []string{"tcp", "udp"} {
				streams, err := FFprobe(t.Context(), cam.URL, transport)
				if err != nil {
					t.Fatal(err)
				}
				checkProbe(t, streams, tc.want)
			}
		})
	}
}

// wantDecoded decodes 2 s of url with ffmpeg: no error lines and at least
// 40 frames (25 fps; a live source may deliver a little more or less). It
// returns the frame count.
func wantDecoded(t *testing.T, url, transport string) int {
	t.Helper()
	frames, errLines, err := DecodeCheck(t.Context(), url, transport, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(errLines) != 0 {
		t.Errorf("error lines: %q", errLines)
	}
	if frames < 40 {
		t.Errorf("decoded %d frames in 2 s, want about 50", frames)
	}
	return frames
}

// TestCameraDecode: ffmpeg and GStreamer, over TCP and UDP, decode the
// camera. One after another: the shared media can close a session, or
// abort, when several start on it at the same moment (seen in CI).
func TestCameraDecode(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{})

	t.Run("ffmpeg", func(t *testing.T) {
		start := time.Now()
		frames := wantDecoded(t, cam.URL, "tcp")
		t.Logf("ffmpeg decoded %d frames in %v", frames, time.Since(start))
	})
	t.Run("gstreamer-tcp", func(t *testing.T) {
		start := time.Now()
		if err := GstDecode(t.Context(), cam.URL, "tcp", 25); err != nil {
			t.Fatal(err)
		}
		t.Logf("gst-launch decoded 24 frames in %v", time.Since(start))
	})
	t.Run("gstreamer-udp", func(t *testing.T) {
		if err := GstDecode(t.Context(), cam.URL, "udp", 10); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCameraDigestAuth(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{User: "user", Password: "pa:ss"})
	if strings.Contains(cam.URL, "user") {
		t.Errorf("URL %q has credentials", cam.URL)
	}

	if _, err := FFprobe(t.Context(), cam.URL, "tcp"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("FFprobe without credentials: err = %v, want 401", err)
	}
	bad := strings.Replace(cam.URL, "rtsp://", "rtsp://user:wrong@", 1)
	if _, err := FFprobe(t.Context(), bad, "tcp"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("FFprobe with a wrong password: err = %v, want 401", err)
	}
	if want := strings.Replace(cam.URL, "rtsp://", "rtsp://user:pa%3Ass@", 1); cam.AuthURL() != want {
		t.Errorf("AuthURL = %q, want %q", cam.AuthURL(), want)
	}
	streams, err := FFprobe(t.Context(), cam.AuthURL(), "tcp")
	if err != nil {
		t.Fatal(err)
	}
	checkProbe(t, streams, probeWant{"h264", "pcm_alaw", "8000"})

	// Digest only: no Basic challenge that a client could fall back to.
	res := rtspDescribe(t, cam, "")
	if res.status != 401 {
		t.Fatalf("DESCRIBE without credentials: status %d", res.status)
	}
	for _, c := range res.header.Values("Www-Authenticate") {
		if !strings.HasPrefix(c, "Digest ") {
			t.Errorf("challenge %q, want Digest only", c)
		}
	}
	if len(res.header.Values("Www-Authenticate")) == 0 {
		t.Errorf("no WWW-Authenticate in %v", res.header)
	}
}

func TestCameraStopRestart(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{Audio: "none"})
	port, url := cam.Port, cam.URL
	if _, err := FFprobe(t.Context(), url, "tcp"); err != nil {
		t.Fatal(err)
	}

	cam.Stop()
	cam.Stop() // idempotent
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts after Stop", port)
	}
	if _, err := FFprobe(t.Context(), url, "tcp"); err == nil {
		t.Errorf("FFprobe of a stopped camera succeeded")
	}

	start := time.Now()
	cam.Restart(t)
	t.Logf("restart took %v", time.Since(start))
	if cam.Port != port || cam.URL != url {
		t.Errorf("after Restart: %d %q, want %d %q", cam.Port, cam.URL, port, url)
	}
	streams, err := FFprobe(t.Context(), cam.URL, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	checkProbe(t, streams, probeWant{"h264", "", ""})

	// Restart of a running camera, and a fixed port given in the options.
	cam.Restart(t)
	fixed := StartCamera(t, CameraOptions{Audio: "none", Port: FreePort(t)})
	if _, err := FFprobe(t.Context(), fixed.URL, "tcp"); err != nil {
		t.Fatal(err)
	}
}

func TestCameraBackchannel(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{Backchannel: true, RequireLog: true})

	plain := rtspDescribe(t, cam, "")
	if plain.status != 200 {
		t.Fatalf("DESCRIBE: status %d", plain.status)
	}
	if m := sdpMedias(plain.body); len(m) != 2 || strings.Contains(plain.body, "a=sendonly") {
		t.Errorf("SDP without Require lists %q, want video and audio, no sendonly:\n%s", m, plain.body)
	}

	bc := rtspDescribe(t, cam, onvifBackchannel)
	if bc.status != 200 {
		t.Fatalf("DESCRIBE with Require: status %d", bc.status)
	}
	m := sdpMedias(bc.body)
	if len(m) != 3 || m[2] != "m=audio 0 RTP/AVP 0" || !strings.Contains(bc.body, "a=sendonly") {
		t.Errorf("SDP with Require lists %q, want a third PCMU sendonly audio:\n%s", m, bc.body)
	}

	streams, err := FFprobe(t.Context(), cam.URL, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	checkProbe(t, streams, probeWant{"h264", "pcm_alaw", "8000"})

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := cam.WaitLine(ctx, func(l string) bool { return l == "require: "+onvifBackchannel }); err != nil {
		t.Error(err)
	}
	if _, err := cam.WaitLine(ctx, func(l string) bool { return l == "require-none" }); err != nil {
		t.Error(err)
	}
	if _, err := cam.WaitLine(ctx, func(l string) bool { return strings.HasPrefix(l, "backchannel-buffers ") }); err != nil {
		t.Error(err)
	}
	// Two plain DESCRIBEs (ours and ffprobe's), one with Require.
	var none, req int
	for _, l := range cam.Lines() {
		switch {
		case l == "require-none":
			none++
		case strings.HasPrefix(l, "require: "):
			req++
		}
	}
	if none != 2 || req != 1 {
		t.Errorf("require lines: %d none, %d with a value; want 2 and 1; lines %q", none, req, cam.Lines())
	}

	if with, without := cam.DescribesWithRequire(), cam.DescribesWithoutRequire(); with != 1 || without != 2 {
		t.Errorf("DescribesWithRequire, DescribesWithoutRequire = %d, %d; want 1, 2", with, without)
	}

	n := len(cam.Lines())
	cam.Stop()
	last := cam.Lines()[n:]
	if len(last) < 2 || last[len(last)-2] != "backchannel-bytes 0" || last[len(last)-1] != "backchannel-buffers 0" ||
		cam.BackchannelBuffers() != 0 || cam.BackchannelBytes() != 0 {
		t.Errorf("lines printed at exit %q, want backchannel-bytes 0, backchannel-buffers 0", last)
	}
}

func TestCameraRejectBackchannel(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{Backchannel: true, RejectBackchannel: true, Audio: "none"})
	if res := rtspDescribe(t, cam, onvifBackchannel); res.status != 551 {
		t.Errorf("DESCRIBE with Require: status %d, want 551", res.status)
	}
	if res := rtspDescribe(t, cam, ""); res.status != 200 {
		t.Errorf("DESCRIBE: status %d, want 200", res.status)
	}
}

// talkClient is a gortsplib client that DESCRIBEs cam with the ONVIF Require
// (RequestBackChannels) and returns the SDP's medias.
func talkClient(t *testing.T, cam *Camera, protocol gortsplib.Protocol) (*gortsplib.Client, *description.Session) {
	t.Helper()
	u, err := base.ParseURL(cam.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{
		Scheme:              u.Scheme,
		Host:                u.Host,
		Protocol:            &protocol,
		RequestBackChannels: true,
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	return c, desc
}

// sendG711 sends d of silence to the backchannel medi in 20 ms packets of
// 160 bytes, at the pace of a live talk session.
func sendG711(t *testing.T, c *gortsplib.Client, medi *description.Media, d time.Duration) {
	t.Helper()
	pt := medi.Formats[0].PayloadType()
	silence := byte(0xff) // µ-law
	if pt == 8 {
		silence = 0xd5 // A-law
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range int(d / (20 * time.Millisecond)) {
		pkt := &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				PayloadType:    pt,
				SequenceNumber: uint16(i),
				Timestamp:      uint32(i * 160),
				SSRC:           0x7a1c,
				Marker:         i == 0,
			},
			Payload: bytes.Repeat([]byte{silence}, 160),
		}
		if err := c.WritePacketRTP(medi, pkt); err != nil {
			t.Fatalf("write packet %d: %v", i, err)
		}
		<-tick.C
	}
}

func TestCameraBackchannelAudio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		codec     string
		protocol  gortsplib.Protocol
		sendPT    uint8 // the backchannel media the client sets up
		wantMedia []uint8
	}{
		{"pcmu", gortsplib.ProtocolTCP, 0, []uint8{0}},
		{"pcma", gortsplib.ProtocolUDP, 8, []uint8{8}},
		{"pcmu,pcma", gortsplib.ProtocolTCP, 8, []uint8{0, 8}},
	} {
		t.Run(strings.ReplaceAll(tc.codec, ",", "+"), func(t *testing.T) {
			t.Parallel()
			cam := StartCamera(t, CameraOptions{Backchannel: true, BackchannelCodec: tc.codec})
			c, desc := talkClient(t, cam, tc.protocol)

			var setup []*description.Media
			var talk *description.Media
			var pts []uint8
			for _, m := range desc.Medias {
				if !m.IsBackChannel {
					setup = append(setup, m)
					continue
				}
				pt := m.Formats[0].PayloadType()
				pts = append(pts, pt)
				if g, ok := m.Formats[0].(*format.G711); !ok || len(m.Formats) != 1 || g.MULaw != (pt == 0) {
					t.Errorf("backchannel media %+v, want one G.711 format", m.Formats)
				}
				if pt == tc.sendPT {
					talk = m
				}
			}
			if !slices.Equal(pts, tc.wantMedia) || talk == nil {
				t.Fatalf("backchannel payload types %v, want %v", pts, tc.wantMedia)
			}
			if err := c.SetupAll(desc.BaseURL, append(setup, talk)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Play(nil); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			sendG711(t, c, talk, 2*time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			if err := cam.WaitBackchannelBytes(ctx, 16000*9/10); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bytes after %v", cam.BackchannelBytes(), time.Since(start))
			if n := cam.BackchannelBytes(); n > 16000 {
				t.Errorf("BackchannelBytes = %d, more than the 16000 sent", n)
			}
			want := "backchannel-codec pcmu"
			if tc.sendPT == 8 {
				want = "backchannel-codec pcma"
			}
			var codecs []string
			for _, l := range cam.Lines() {
				if strings.HasPrefix(l, "backchannel-codec ") {
					codecs = append(codecs, l)
				}
			}
			if len(codecs) != 1 || codecs[0] != want {
				t.Errorf("codec lines %q, want %q", codecs, want)
			}
			if _, err := cam.WaitLine(ctx, func(l string) bool { return l == "backchannel-setup ok" }); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCameraDescribeRequireCount(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{Backchannel: true, Audio: "none"})
	for _, require := range []string{"", onvifBackchannel, "", onvifBackchannel, onvifBackchannel} {
		if res := rtspDescribe(t, cam, require); res.status != 200 {
			t.Fatalf("DESCRIBE with Require %q: status %d", require, res.status)
		}
	}
	c, _ := talkClient(t, cam, gortsplib.ProtocolTCP) // a fourth one with the Require
	c.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := cam.waitFor(ctx, func() bool {
		return cam.DescribesWithRequire() == 4 && cam.DescribesWithoutRequire() == 2
	})
	if err != nil {
		t.Errorf("DescribesWithRequire, DescribesWithoutRequire = %d, %d; want 4, 2; lines %q",
			cam.DescribesWithRequire(), cam.DescribesWithoutRequire(), cam.Lines())
	}
	for _, l := range cam.Lines() {
		if strings.HasPrefix(l, "require") {
			t.Errorf("line %q without RequireLog", l)
		}
	}
}

func TestCameraRefuseBackchannelSetup(t *testing.T) {
	t.Parallel()
	cam := StartCamera(t, CameraOptions{Backchannel: true, RefuseBackchannelSetup: true})
	c, desc := talkClient(t, cam, gortsplib.ProtocolTCP)
	if len(desc.Medias) != 3 || !desc.Medias[2].IsBackChannel {
		t.Fatalf("medias %+v, want video, audio and the backchannel", desc.Medias)
	}
	for _, m := range desc.Medias[:2] {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			t.Fatalf("SETUP %s: %v", m.Control, err)
		}
	}
	if _, err := c.Setup(desc.BaseURL, desc.Medias[2], 0, 0); err == nil || !strings.Contains(err.Error(), "453") {
		t.Errorf("SETUP of the backchannel: err = %v, want 453", err)
	}

	// The session still plays without the talk channel.
	got := make(chan struct{}, 2)
	for _, m := range desc.Medias[:2] {
		c.OnPacketRTP(m, m.Formats[0], func(*rtp.Packet) {
			select {
			case got <- struct{}{}:
			default:
			}
		})
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Error("no RTP packet within 5 s of PLAY")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := cam.WaitLine(ctx, func(l string) bool { return l == "backchannel-setup refused" }); err != nil {
		t.Error(err)
	}
	if slices.Contains(cam.Lines(), "backchannel-setup ok") {
		t.Errorf("lines %q, want no accepted backchannel SETUP", cam.Lines())
	}
}

type rtspResponse struct {
	status int
	header textproto.MIMEHeader
	body   string
}

// rtspDescribe sends one DESCRIBE over a fresh connection, with a Require
// header if require is not empty, and reads the response.
func rtspDescribe(t *testing.T, cam *Camera, require string) rtspResponse {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cam.Port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	req := "DESCRIBE " + cam.URL + " RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
	if require != "" {
		req += "Require: " + require + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}

	tp := textproto.NewReader(bufio.NewReader(conn))
	line, err := tp.ReadLine()
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if proto != "RTSP/1.0" || err != nil {
		t.Fatalf("bad status line %q", line)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("read headers: %v", err)
	}
	var body []byte
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil {
			t.Fatalf("Content-Length %q", cl)
		}
		body = make([]byte, n)
		if _, err := io.ReadFull(tp.R, body); err != nil {
			t.Fatalf("read body: %v", err)
		}
	}
	return rtspResponse{status: status, header: hdr, body: string(body)}
}

// sdpMedias returns the m= lines of an SDP.
func sdpMedias(sdp string) []string {
	var m []string
	for _, l := range strings.Split(sdp, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "m=") {
			m = append(m, l)
		}
	}
	return m
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, so a test can check that a helper fails as it should.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestCameraPortBusy(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		StartCamera(rec, CameraOptions{Port: port})
		t.Errorf("StartCamera on busy port %d returned", port)
	}()
	<-done
	if !strings.Contains(rec.msg, "cannot listen on 127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("Fatalf message %q, want cannot listen", rec.msg)
	}
	// well under the 20 s wait for a camera that started: the bind retry
	// gave up (a loaded machine may take seconds for a last camera.py start)
	if d := time.Since(start); d > cameraBindRetry+10*time.Second {
		t.Errorf("gave up after %v, want about %v", d, cameraBindRetry)
	}
}
