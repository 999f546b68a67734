package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// talker is an RTSP client that plays a stream of the gateway and sends on
// its backchannel media, as a player with a talk button would (ffmpeg
// cannot send on a backchannel, so it is gortsplib's client).
type talker struct {
	c  *gortsplib.Client
	bc *description.Media
}

// dialTalker DESCRIBEs url; withRequire sends the ONVIF Require header,
// otherwise no request carries it (the query must do it).
func dialTalker(t *testing.T, url string, withRequire bool) *talker {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &tcp,
		RequestBackChannels: true,
		OnRequest: func(req *base.Request) {
			if !withRequire {
				delete(req.Header, "Require")
			}
		},
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE %s: %v", url, err)
	}
	tk := &talker{c: c}
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			tk.bc = m
		}
	}
	if tk.bc == nil {
		t.Fatalf("DESCRIBE %s: no backchannel media among %d", url, len(desc.Medias))
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatalf("SETUP: %v", err)
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatalf("PLAY: %v", err)
	}
	return tk
}

// send sends d of G.711 audio in 20 ms packets, in real time.
func (tk *talker) send(t *testing.T, d time.Duration) {
	t.Helper()
	pt := tk.bc.Formats[0].PayloadType()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range int(d / (20 * time.Millisecond)) {
		<-tick.C
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 1}, Payload: make([]byte, 160)}
		for j := range pkt.Payload {
			pkt.Payload[j] = 0xff // µ-law silence
		}
		if err := tk.c.WritePacketRTP(tk.bc, pkt); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

// TestTalkOverRTSP: a reader of ?backchannel=1, or one that sends the
// ONVIF Require header, gets the camera's backchannel codec in its SDP, and
// what it sends reaches the camera's speaker.
func TestTalkOverRTSP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, query, codec string
		require            bool
	}{
		{"query", "?backchannel=1", "pcmu", false},
		{"require", "", "pcmu", true},
		{"pcma", "?backchannel=1", "pcma", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true, BackchannelCodec: c.codec})
			gw := startGateway(t, "streams:\n  door: "+cam.URL+"\n", gatewayOpts{})
			tk := dialTalker(t, gw.URL+"door"+c.query, c.require)
			want, pt := "PCMU/8000", uint8(0)
			if c.codec == "pcma" {
				want, pt = "PCMA/8000", 8
			}
			if got := tk.bc.Formats[0].RTPMap(); got != want || tk.bc.Formats[0].PayloadType() != pt {
				t.Fatalf("backchannel offered as %s PT %d, want the camera's %s PT %d", got, tk.bc.Formats[0].PayloadType(), want, pt)
			}
			tk.send(t, 3*time.Second)
			// 3 s of 8 kHz G.711: at least 90 % of 24000 bytes reach the speaker
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cam.WaitBackchannelBytes(ctx, 21600); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(gw.logs.String(), "talking to the camera") {
				t.Error("no talk line in the log")
			}
		})
	}
}

// TestBackchannelSetupRefused: a doorbell that refuses the SETUP of
// its backchannel still streams; talking fails with a clear answer and the
// probe says why there is no two-way audio.
func TestBackchannelSetupRefused(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true, RefuseBackchannelSetup: true})
	gw := startGateway(t, "streams:\n  door: "+cam.URL+"\n", gatewayOpts{api: true})
	code, body := apiCall(t, "POST", gw.API+"/api/streams?dst=door&src="+url.QueryEscape("ffmpeg:"+toneWAV(t, time.Second)+"#input=file"))
	if code < 400 || !strings.Contains(string(body), "refused the backchannel SETUP") {
		t.Fatalf("talk to a doorbell that refuses it: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	frames, errLines, err := testpeer.DecodeCheck(ctx, gw.URL+"door", "tcp", 2)
	if err != nil || len(errLines) > 0 || frames < 20 {
		t.Fatalf("video after the refused talk: %d frames, %v %s", frames, err, strings.Join(errLines, "\n"))
	}
	_, body = apiCall(t, "GET", gw.API+"/api/streams?src=door")
	if !strings.Contains(string(body), "refused the backchannel SETUP") || strings.Contains(string(body), "sendonly") {
		t.Fatalf("probe after the refusal: %s", body)
	}
}

// TestDoorbellListedTwiceAsksOnce: the same doorbell in two streams,
// one with #backchannel=0, is one camera session that asks for the
// backchannel once.
func TestDoorbellListedTwiceAsksOnce(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true})
	yml := "streams:\n  door: " + cam.URL + "\n  door_view: " + cam.URL + "#backchannel=0\n"
	gw := startGateway(t, yml, gatewayOpts{grace: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{"door_view", "door"} {
		if _, err := testpeer.FFprobe(ctx, gw.URL+name, "tcp"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if with, without := cam.DescribesWithRequire(), cam.DescribesWithoutRequire(); with != 1 || without != 0 {
		t.Fatalf("%d DESCRIBEs with Require and %d without, want one camera session asking once", with, without)
	}
}
