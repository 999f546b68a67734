package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// TestWebUI: the web pages against the real gateway and the
// GStreamer ONVIF camera, in Debian's chromium driven over CDP. The list
// shows the stream online with its reader and bitrate; the stream page its
// tracks and "Two-way audio: yes — PCMU/8000"; its Talk button sends the
// fake microphone to the camera's speaker until Stop talking, or until an
// RTSP talker takes over, which the page says.
//
// With RTSPGATE_SCREENSHOTS=1 the screenshots are also written to
// docs/list.png and docs/stream.png, which the README shows.
func TestWebUI(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true})
	// "garage" is never read: the list shows it idle, without connecting it
	gw := startGateway(t, "streams:\n  door: "+cam.URL+"\n  garage: rtsp://127.0.0.1:9/nothing\n", gatewayOpts{api: true})
	testpeer.StartReader(t, gw.URL+"door") // keeps the camera online with a reader
	ctx := testpeer.Browser(t)
	shots := t.TempDir()

	// the list
	testpeer.BrowserDo(t, ctx, 30*time.Second, chromedp.Navigate(gw.API+"/"))
	door := `document.querySelector('tr[data-stream="door"]')`
	testpeer.BrowserWait(t, ctx, 30*time.Second, "the door row online, with its reader and a bitrate",
		door+` && `+door+`.querySelector(".state").textContent === "online" && `+
			door+`.cells[2].textContent === "1" && /[1-9][0-9.]* (k|M)?bit\/s/.test(`+door+`.cells[3].textContent)`)
	row := testpeer.BrowserEval(t, ctx, door+`.textContent`)
	if !strings.Contains(row, cam.URL) {
		t.Errorf("the door row does not show its source %s: %q", cam.URL, row)
	}
	garage := testpeer.BrowserEval(t, ctx, `document.querySelector('tr[data-stream="garage"] .state').textContent`)
	if garage != "idle" {
		t.Errorf("the garage, never read, is %q; want idle", garage)
	}
	uiShot(t, ctx, filepath.Join(shots, "list.png"), "list.png")

	// the stream page
	testpeer.BrowserDo(t, ctx, 30*time.Second,
		chromedp.Navigate(gw.API+"/stream.html?src=door"),
		chromedp.WaitVisible(chromedp.ID("talk-button")),
	)
	if got := testpeer.BrowserEval(t, ctx, `document.getElementById("talk").textContent`); got != "Two-way audio: yes — PCMU/8000" {
		t.Errorf("two-way line %q, want %q", got, "Two-way audio: yes — PCMU/8000")
	}
	text := testpeer.BrowserEval(t, ctx, `document.getElementById("info").innerText.replace(/\s+/g, " ")`)
	for _, want := range []string{
		"video recvonly — we receive H264",
		"audio recvonly — we receive PCMA/8000",
		"audio sendonly — we may send (backchannel) PCMU/8000",
		fmt.Sprintf("rtsp://127.0.0.1:%d/door?backchannel=1", gw.Port),
		fmt.Sprintf("rtsp://127.0.0.1:%d/door?video=all&audio=all", gw.Port),
		"State online since",
		"rtsp · rtsp+tcp · 127.0.0.1:",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the stream page lacks %q:\n%s", want, text)
		}
	}

	// talk for 3 s: at least 2 s of G.711 (16000 bytes) reach the speaker
	before := cam.BackchannelBytes()
	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	testpeer.BrowserWait(t, ctx, 30*time.Second, "the page talking or giving up",
		`document.getElementById("talk-status").textContent.startsWith("Talking") || `+
			`document.getElementById("talk-button").textContent === "Talk"`)
	if st := testpeer.BrowserEval(t, ctx, `document.getElementById("talk-status").textContent`); !strings.HasPrefix(st, "Talking to the camera (PCMU/8000)") {
		t.Fatalf("after a click on Talk the page says %q", st)
	}
	time.Sleep(3 * time.Second)
	uiShot(t, ctx, filepath.Join(shots, "stream.png"), "stream.png")
	wctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cam.WaitBackchannelBytes(wctx, before+16000); err != nil {
		t.Errorf("%v; the page says %q", err, testpeer.BrowserEval(t, ctx, `document.getElementById("talk-status").textContent`))
	}
	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	testpeer.BrowserWait(t, ctx, 10*time.Second, "the talk stopped",
		`document.getElementById("talk-status").textContent.startsWith("Stopped after") && `+
			`document.getElementById("talk-button").textContent === "Talk"`)
	gw.logs.waitFor(t, "the browser talk ending", 10*time.Second, func(s string) bool {
		return strings.Contains(s, "browser talk ended")
	})

	// one talker at a time: an RTSP talker replaces the page, which says so
	testpeer.BrowserDo(t, ctx, 10*time.Second, chromedp.Click(chromedp.ID("talk-button")))
	testpeer.BrowserWait(t, ctx, 30*time.Second, "the page talking again",
		`document.getElementById("talk-status").textContent.startsWith("Talking to the camera")`)
	tk := dialTalker(t, gw.URL+"door?backchannel=1", false)
	tk.send(t, time.Second)
	testpeer.BrowserWait(t, ctx, 10*time.Second, "the page told it was replaced",
		`document.getElementById("talk-status").textContent.includes("replaced by another talker") && `+
			`document.getElementById("talk-button").textContent === "Talk"`)
}

// uiShot saves a screenshot of the window to path and, with
// RTSPGATE_SCREENSHOTS=1, to docs/NAME at the repository's root.
func uiShot(t *testing.T, ctx context.Context, path, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG of a page: %d bytes", name, len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("RTSPGATE_SCREENSHOTS") == "1" {
		docs := filepath.Join("..", "docs")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/%s (%d bytes)", name, len(png))
	}
}
