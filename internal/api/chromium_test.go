package api

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// growing is a backend whose streams take in 250 kB between two calls of
// List, so that the list page has a bitrate to show.
type growing struct {
	*fakeBackend
	mu    sync.Mutex
	lists int
}

func (g *growing) List(ctx context.Context) ([]*StreamInfo, error) {
	infos, err := g.fakeBackend.List(ctx)
	g.mu.Lock()
	g.lists++
	n := g.lists
	g.mu.Unlock()
	for _, info := range infos {
		if info.Name == "door" {
			info.BytesIn, info.PacketsIn = uint64(n)*250_000, uint64(n)*250
		}
	}
	return infos, err
}

// rowRE finds the rows of the list: the stream's name and the row's HTML.
var rowRE = regexp.MustCompile(`(?s)<tr data-stream="([^"]*)">(.*?)</tr>`)

// TestListInChromium: the list page shows every stream, from GET
// /api/streams, with its state, readers, bitrate and health.
func TestListInChromium(t *testing.T) {
	chromiumPath(t)
	since := time.Now().Add(-5 * time.Minute)
	door := doorbell()
	door.Producers[0].Since = since
	door.Producers[0].Lost, door.Producers[0].JitterMS = 12, 3.14
	door.Producers[0].Quirks = []string{"no-marker-bits"}
	door.Drops = map[string]uint64{"reader too slow": 3}
	y := yard()
	y.Producers[0].Reconnects = 2
	fb := &growing{fakeBackend: &fakeBackend{streams: map[string]*StreamInfo{"door": door, "yard": y, "pushed": {}}}}
	base := startPage(t, fb)

	raw := runChromium(t, base+"/", "--dump-dom")
	rows := map[string]string{}
	var order []string
	for _, m := range rowRE.FindAllStringSubmatch(string(raw), -1) {
		rows[m[1]] = testpeer.PageText([]byte(m[2]))
		order = append(order, m[1])
	}
	if want := []string{"door", "pushed", "yard"}; !slices.Equal(order, want) {
		t.Fatalf("rows %q, want %q\npage: %s", order, want, testpeer.PageText(raw))
	}
	for name, wants := range map[string][]string{
		"door": {"door rtsp://admin:***@192.168.1.20/stream1", "online for 5 min", " 1 ", "kbit/s",
			"12 packets lost · jitter 3.1 ms · quirks: no-marker-bits", "dropped: 3 reader too slow"},
		"yard":   {"online", "Source 2: dial tcp 192.168.1.23:554: connection refused", "Source 1: 2 reconnects", " 0 "},
		"pushed": {"waits for a publisher", "no source", "no problems seen"},
	} {
		for _, want := range wants {
			if !strings.Contains(rows[name], want) {
				t.Errorf("row %s lacks %q: %s", name, want, rows[name])
			}
		}
	}
	if !strings.Contains(string(raw), `href="stream.html?src=door"`) {
		t.Errorf("no link to the stream page:\n%s", raw)
	}
	fb.mu.Lock()
	lists := fb.lists
	fb.mu.Unlock()
	if lists < 2 {
		t.Errorf("the list was fetched %d times in 5 s; it refreshes every 2 s", lists)
	}

	// a phone's width: still one block per stream, nothing cut off
	png := filepath.Join(t.TempDir(), "list.png")
	runChromium(t, base+"/", "--screenshot="+png, "--window-size=390,844")
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("no screenshot: %v", err)
	}
}

// waitText waits until the text of element id holds want.
func waitText(t *testing.T, ctx context.Context, id, want string, d time.Duration) {
	t.Helper()
	js := fmt.Sprintf(`document.getElementById(%q).textContent.includes(%q)`, id, want)
	ctx2, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if _, err := chromedp.Run(ctx2, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("#%s never said %q (%v); it says %q", id, want, err, testpeer.BrowserEval(t, ctx, fmt.Sprintf(`document.getElementById(%q).textContent`, id)))
	}
}

// TestTalkInChromium: the Talk button captures the (fake) microphone and
// sends 20 ms G.711 messages at the real-time rate; a second talker ends
// it with the reason shown; Stop talking ends it.
func TestTalkInChromium(t *testing.T) {
	info := doorbell()
	info.Producers[0].Medias[2].Codecs = []string{"PCMU/8000"}
	tb := newTalkBackend(map[string]*StreamInfo{"door": info})
	base := startPage(t, tb)
	ctx := testpeer.Browser(t)

	testpeer.BrowserDo(t, ctx, 30*time.Second,
		chromedp.Navigate(base+"/stream.html?src=door"),
		chromedp.WaitVisible(chromedp.ID("talk-button")),
	)
	if got := testpeer.BrowserEval(t, ctx, `document.getElementById("talk").textContent`); got != "Two-way audio: yes — PCMU/8000" {
		t.Errorf("two-way line %q", got)
	}
	checkG711(t, ctx)

	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	waitText(t, ctx, "talk-status", "Talking to the camera (PCMU/8000)", 20*time.Second)
	if got := testpeer.BrowserEval(t, ctx, `document.getElementById("talk-button").textContent`); got != "Stop talking" {
		t.Errorf("button says %q while talking", got)
	}
	l := tb.started()[0]
	select {
	case <-l.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("no audio came")
	}
	// the rate over a window timed here, not since the first message: the
	// browser calls above take their own time on a loaded machine
	first, _ := l.got()
	t0 := time.Now()
	time.Sleep(2 * time.Second)
	writes, codecs := l.got()
	elapsed := time.Since(t0).Seconds()
	if n := len(writes) - len(first); float64(n) < 30*elapsed || float64(n) > 50*elapsed+25 {
		t.Errorf("%d messages in %.1f s, want 50 a second (20 ms each)", n, elapsed)
	}
	loud := 0
	for i, w := range writes {
		if len(w) != 160 || codecs[i] != "PCMU/8000" {
			t.Fatalf("message %d: %d bytes of %s, want 160 of PCMU/8000", i, len(w), codecs[i])
		}
		for _, b := range w {
			if b != 0xff && b != 0x7f && b != 0xfe && b != 0x7e { // µ-law silence and its neighbours
				loud++
			}
		}
	}
	if loud == 0 {
		t.Error("every sample is silence; the fake microphone beeps")
	}

	// another talker takes the backchannel: the page says so
	other, _, err := dialTalk(t, "ws"+strings.TrimPrefix(base, "http"), "dst=door&codec=PCMU", "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	waitText(t, ctx, "talk-status", "replaced by another talker", 10*time.Second)
	l.waitClosed(t)
	if got := testpeer.BrowserEval(t, ctx, `document.getElementById("talk-button").textContent`); got != "Talk" {
		t.Errorf("button says %q after the talk ended", got)
	}

	// talk again, then stop
	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	waitText(t, ctx, "talk-status", "Talking to the camera", 20*time.Second)
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot: %v", err)
	} else if err := os.WriteFile(filepath.Join(t.TempDir(), "talking.png"), png, 0o644); err != nil {
		t.Error(err)
	}
	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	waitText(t, ctx, "talk-status", "Stopped", 10*time.Second)
	s := tb.started()
	s[len(s)-1].waitClosed(t)
}

// checkG711 checks the page's G.711 encoders: the values of the standard
// for silence and the extremes, and for every 7th 16-bit sample a code
// that decodes near it, in order.
func checkG711(t *testing.T, ctx context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fixed, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[0, -1, 32767, -32768].flatMap((x) => [mulaw(x), alaw(x)])`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0xff, 0xd5, 0x7f, 0x55, 0x80, 0xaa, 0x00, 0x2a}; !slices.Equal(fixed, want) {
		t.Errorf("µ-law, A-law of 0, -1, 32767, -32768: % x, want % x", fixed, want)
	}
	for _, c := range []struct {
		fn     string
		decode func(byte) int
		slack  func(x int) int
	}{
		{"mulaw", decodeMulaw, func(x int) int { return (abs(x)+0x84)/32 + 2 }},
		{"alaw", decodeAlaw, func(x int) int { return abs(x)/32 + 24 }},
	} {
		codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](fmt.Sprintf(
			`Array.from({length: Math.floor(65536 / 7)}, (_, i) => %s(-32768 + 7 * i))`, c.fn)))
		if err != nil {
			t.Fatal(err)
		}
		prev := -1 << 20
		for i, code := range codes {
			x := -32768 + 7*i
			if x > 32124 { // beyond the largest code of µ-law
				break
			}
			y := c.decode(byte(code))
			if abs(y-x) > c.slack(x) || y < prev {
				t.Fatalf("%s(%d) = %#x, decoding to %d (after %d)", c.fn, x, code, y, prev)
			}
			prev = y
		}
	}
}

func decodeMulaw(b byte) int {
	u := ^b
	mag := ((int(u&0x0f)<<3)+0x84)<<((u>>4)&7) - 0x84
	if u&0x80 != 0 {
		return -mag
	}
	return mag
}

func decodeAlaw(b byte) int {
	a := b ^ 0x55
	seg, mant := int(a>>4)&7, int(a&0x0f)
	mag := mant<<4 + 8
	if seg > 0 {
		mag = (mant<<4 + 0x108) << (seg - 1)
	}
	if a&0x80 == 0 {
		return -mag
	}
	return mag
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
