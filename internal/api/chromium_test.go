package api

import (
	"bytes"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// The stream page is checked in a real browser: Debian's chromium,
// headless, loads it from a running Server and dumps the DOM its script
// built.

func chromiumPath(t *testing.T) string { return testpeer.ChromiumPath(t) }

func runChromium(t *testing.T, url string, extra ...string) []byte {
	return testpeer.Chromium(t, url, extra...)
}

var talkRE = regexp.MustCompile(`<p id="talk"[^>]*>([^<]*)</p>`)

// dump loads the page and returns the DOM's text (tags removed, spaces
// collapsed) and the text of the two-way audio line.
func dump(t *testing.T, url string) (text, talk string) {
	t.Helper()
	raw := runChromium(t, url, "--dump-dom")
	dom := string(raw)
	text = testpeer.PageText(raw)
	if m := talkRE.FindStringSubmatch(dom); m != nil {
		talk = html.UnescapeString(m[1])
	}
	return text, talk
}

// startPage starts a Server on loopback with b behind it.
func startPage(t *testing.T, b Backend) string {
	t.Helper()
	s, _ := newTest(t, Config{Listen: "127.0.0.1:0", RTSPPort: 8554}, b)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return "http://" + s.Addr().String()
}

func TestPageInChromium(t *testing.T) {
	chromiumPath(t)

	t.Run("backchannel", func(t *testing.T) {
		info := doorbell()
		info.Producers[0].Medias[2].Codecs = []string{"PCMU/8000"}
		base := startPage(t, &fakeBackend{streams: map[string]*StreamInfo{"door": info}})
		url := base + "/stream.html?src=door"
		text, talk := dump(t, url)
		if talk != "Two-way audio: yes — PCMU/8000" {
			t.Errorf("two-way line %q, want %q\npage text: %s", talk, "Two-way audio: yes — PCMU/8000", text)
		}
		for _, want := range []string{
			"Two-way audio: yes — PCMU/8000",
			"rtsp://127.0.0.1:8554/door ",
			"rtsp://127.0.0.1:8554/door?video ",
			"rtsp://127.0.0.1:8554/door?audio ",
			"rtsp://127.0.0.1:8554/door?backchannel=1 ",
			"rtsp://admin:***@192.168.1.20/stream1",
			"sendonly — we may send (backchannel)",
			"rtsp · rtsp+tcp · 192.168.1.5:51234",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("page text lacks %q:\n%s", want, text)
			}
		}

		png := filepath.Join(t.TempDir(), "stream.png")
		runChromium(t, url, "--screenshot="+png, "--window-size=1280,800")
		b, err := os.ReadFile(png)
		if err != nil {
			t.Fatalf("no screenshot: %v", err)
		}
		if len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("screenshot is not a PNG of a page: %d bytes", len(b))
		}
	})

	t.Run("no backchannel", func(t *testing.T) {
		plain := &StreamInfo{Name: "plain", Producers: []Producer{{
			URL: "rtsp://192.168.1.30/live", State: "online",
			Medias: []Media{{Kind: "video", Direction: "recvonly", Codecs: []string{"H264"}}},
		}}}
		base := startPage(t, &fakeBackend{streams: map[string]*StreamInfo{"yard": yard(), "plain": plain}})

		text, talk := dump(t, base+"/stream.html?src=yard")
		if want := "Two-way audio: no (camera refused the talk SETUP)"; talk != want {
			t.Errorf("two-way line %q, want %q\npage text: %s", talk, want, text)
		}
		for _, want := range []string{"rtsp://127.0.0.1:8554/yard ", "Last error: dial tcp 192.168.1.23:554: connection refused"} {
			if !strings.Contains(text, want) {
				t.Errorf("page text lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, "backchannel=1") {
			t.Errorf("a backchannel URL for a stream without one:\n%s", text)
		}

		text, talk = dump(t, base+"/stream.html?src=plain")
		if talk != "Two-way audio: no" {
			t.Errorf("two-way line %q, want %q\npage text: %s", talk, "Two-way audio: no", text)
		}

		text, _ = dump(t, base+"/stream.html?src=missing")
		if !strings.Contains(text, `Not found: no such stream: "missing"`) {
			t.Errorf("unknown stream: page text %s", text)
		}

		png := filepath.Join(t.TempDir(), "stream.png")
		runChromium(t, base+"/stream.html?src=yard", "--screenshot="+png, "--window-size=1280,800")
		if fi, err := os.Stat(png); err != nil || fi.Size() == 0 {
			t.Errorf("no screenshot: %v", err)
		}
	})
}
