package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// probeJSON is the part of GET /api/streams?src= the tests read.
type probeJSON struct {
	Producers []struct {
		URL    string   `json:"url"`
		Medias []string `json:"medias"`
	} `json:"producers"`
}

func apiCall(t *testing.T, method, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestProbeShowsBackchannel: the probe of a camera with an ONVIF
// backchannel lists it as a sendonly medium with its codec, in the
// original's JSON shape, with credentials masked; the probe page, rendered
// by headless Chromium, says so in words.
func TestProbeShowsBackchannel(t *testing.T) {
	t.Parallel()
	const pass = "door-Pa55word"
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true, User: "admin", Password: pass})
	yml := "streams:\n  door: " + strings.Replace(cam.URL, "rtsp://", "rtsp://admin:"+pass+"@", 1) + "\n"
	gw := startGateway(t, yml, gatewayOpts{api: true})
	for _, q := range []string{"src=door", "src=door&video=all&audio=all&microphone"} {
		code, body := apiCall(t, "GET", gw.API+"/api/streams?"+q)
		if code != 200 {
			t.Fatalf("probe %s: %d %s", q, code, body)
		}
		if strings.Contains(string(body), pass) {
			t.Fatalf("probe answer shows the camera password: %s", body)
		}
		var p probeJSON
		if err := json.Unmarshal(body, &p); err != nil || len(p.Producers) != 1 {
			t.Fatalf("probe %s: %v %s", q, err, body)
		}
		want := []string{"video, recvonly, H264", "audio, recvonly, PCMA/8000", "audio, sendonly, PCMU/8000"}
		if !slices.Equal(p.Producers[0].Medias, want) {
			t.Fatalf("medias %q, want %q", p.Producers[0].Medias, want)
		}
		if !strings.Contains(p.Producers[0].URL, "admin:***@") {
			t.Errorf("producer url %q, want the password masked", p.Producers[0].URL)
		}
	}
	dom := testpeer.Chromium(t, gw.API+"/stream.html?src=door", "--dump-dom")
	text := testpeer.PageText(dom)
	if !strings.Contains(text, "Two-way audio: yes — PCMU/8000") {
		t.Fatalf("probe page does not say Two-way audio: yes — PCMU/8000:\n%s", text)
	}
	if strings.Contains(string(dom), pass) {
		t.Fatal("the probe page shows the camera password")
	}
	png := filepath.Join(t.TempDir(), "probe.png")
	testpeer.Chromium(t, gw.API+"/stream.html?src=door", "--screenshot="+png, "--window-size=800,900")
}

// toneWAV makes a sine WAV of d with ffmpeg.
func toneWAV(t *testing.T, d time.Duration) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tone.wav")
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
		"sine=frequency=440:duration="+strings.TrimSuffix(d.String(), "s"), "-ar", "8000", "-ac", "1", p).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg tone: %v %s", err, out)
	}
	return p
}

// TestTalkFromFile: POST ?dst=&src=ffmpeg:FILE plays the file into the
// camera's backchannel in real time; an empty src stops it; a second
// talker replaces the first.
func TestTalkFromFile(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true})
	// the camera session stays through the steps (5 s grace): this test is
	// about talking, and a session torn down and at once set up again trips
	// the GStreamer camera now and then ("camera session ended")
	gw := startGateway(t, "streams:\n  door: "+cam.URL+"\n", gatewayOpts{api: true, grace: 5 * time.Second})
	tone := toneWAV(t, 3*time.Second)
	post := func(src string) (int, []byte) {
		return apiCall(t, "POST", gw.API+"/api/streams?dst=door&src="+url.QueryEscape(src))
	}

	start := time.Now()
	if code, body := post("ffmpeg:" + tone + "#audio=pcmu#input=file"); code != 200 {
		t.Fatalf("POST talk: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// 3 s of 8 kHz G.711 are 24000 bytes; real time, not a burst
	if err := cam.WaitBackchannelBytes(ctx, 21600); err != nil {
		t.Fatalf("file into the backchannel: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("3 s of audio arrived in %v: not real time", took)
	}

	// a long file, stopped by an empty src
	long := toneWAV(t, 30*time.Second)
	if code, body := post("ffmpeg:" + long + "#audio=auto#input=file"); code != 200 {
		t.Fatalf("POST talk: %d %s", code, body)
	}
	before := cam.BackchannelBytes()
	if err := cam.WaitBackchannelBytes(ctx, before+8000); err != nil {
		t.Fatal(err)
	}
	if code, body := post(""); code != 200 {
		t.Fatalf("POST stop: %d %s", code, body)
	}
	// what was in flight (the camera's jitterbuffer, its 200 ms reports)
	// settles within a moment, slower on a loaded machine; a playback that
	// did not stop goes on at 8000 bytes a second and never settles
	atStop := cam.BackchannelBytes()
	stopped, still := atStop, time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Since(still) < time.Second; {
		if time.Now().After(deadline) {
			t.Fatalf("audio still arrives 10 s after the stop: %d bytes", cam.BackchannelBytes())
		}
		time.Sleep(100 * time.Millisecond)
		if n := cam.BackchannelBytes(); n != stopped {
			stopped, still = n, time.Now()
		}
	}
	// and what came after the stop was only what was in flight
	if late := stopped - atStop; late > 8000 {
		t.Fatalf("%d bytes (over 1 s of audio) reached the camera after the stop", late)
	}

	// a second talker (an RTSP client) replaces a playing file
	if code, body := post("ffmpeg:" + long + "#audio=pcmu#input=file"); code != 200 {
		t.Fatalf("POST talk: %d %s", code, body)
	}
	gw.logs.waitFor(t, "the file playing", 10*time.Second, func(s string) bool { return strings.Count(s, "playing into the backchannel") >= 3 })
	tk := dialTalker(t, gw.URL+"door?backchannel=1", false)
	tk.send(t, time.Second)
	gw.logs.waitFor(t, "the file replaced", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "playback ended: another talker took over")
	})

	// bad input: JSON errors with 4xx
	for _, c := range []struct {
		q    string
		code int
	}{
		{"dst=nosuch&src=ffmpeg:" + url.QueryEscape(tone), 404},
		{"dst=door&src=" + url.QueryEscape("exec:rm -rf /"), 400},
		{"dst=door&src=" + url.QueryEscape("ffmpeg:"+tone+"#bogus=1"), 400},
	} {
		code, body := apiCall(t, "POST", gw.API+"/api/streams?"+c.q)
		var e struct {
			Error string `json:"error"`
		}
		if code != c.code || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("POST %s: %d %s, want %d with a JSON error", c.q, code, body, c.code)
		}
	}
}

// TestBackchannelRequestRules: DESCRIBE carries the ONVIF Require
// header unless #backchannel=0, whatever other # options say; a camera that
// refuses the header still streams (retried without it).
func TestBackchannelRequestRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, options string
		reject        bool
		require       bool // the first DESCRIBE carries Require
	}{
		{"default", "", false, true},
		{"other options", "#timeout=10#media=video", false, true},
		{"off", "#backchannel=0", false, false},
		{"refused", "", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true, RequireLog: true, RejectBackchannel: c.reject})
			gw := startGateway(t, "streams:\n  door: "+cam.URL+c.options+"\n", gatewayOpts{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// video through the gateway (what this is about is the header;
			// ffprobe needs a keyframe and its parameter sets)
			streams, err := testpeer.FFprobe(ctx, gw.URL+"door", "tcp")
			if err != nil || len(streams) == 0 || streams[0].CodecName != "h264" {
				t.Fatalf("through rtspgate: %v %v", streams, err)
			}
			with, without := cam.DescribesWithRequire(), cam.DescribesWithoutRequire()
			ok := with >= 1 && without == 0 // asked, and never again without
			switch {
			case !c.require:
				ok = with == 0
			case c.reject:
				ok = with >= 1 && without == 1 // refused, retried once without
			}
			if !ok {
				t.Errorf("%d DESCRIBEs with Require, %d without", with, without)
			}
		})
	}
}
