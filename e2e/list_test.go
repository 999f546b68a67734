package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// listJSON is the part of GET /api/streams the tests read.
type listJSON map[string]struct {
	Producers []struct {
		URL        string   `json:"url"`
		Medias     []string `json:"medias"`
		State      string   `json:"state"`
		LastError  string   `json:"last_error"`
		Reconnects int      `json:"reconnects"`
	} `json:"producers"`
	Consumers []struct {
		Protocol  string `json:"protocol"`
		BytesSend uint64 `json:"bytes_send"`
	} `json:"consumers"`
}

func getList(t *testing.T, gw *gateway) listJSON {
	t.Helper()
	code, body := apiCall(t, "GET", gw.API+"/api/streams")
	var l listJSON
	if code != 200 || json.Unmarshal(body, &l) != nil {
		t.Fatalf("GET /api/streams: %d %s", code, body)
	}
	return l
}

// TestStreamListAndNoPasswords: the list shows every stream with its
// sources (masked), state and readers; no answer of any endpoint holds a
// camera password.
func TestStreamListAndNoPasswords(t *testing.T) {
	t.Parallel()
	const pass = "list-Pa55word"
	door := testpeer.StartCamera(t, testpeer.CameraOptions{Backchannel: true, User: "admin", Password: pass})
	yard := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/yard"})
	doorURL := strings.Replace(door.URL, "rtsp://", "rtsp://admin:"+pass+"@", 1)
	yml := "streams:\n  door:\n    - " + doorURL + "\n    - " + yard.URL + "#media=audio\n  idle: " + strings.Replace(yard.URL, "rtsp://", "rtsp://viewer:"+pass+"@", 1) + "#transport=ws://u:" + pass + "@127.0.0.1:9/ws\n"
	gw := startGateway(t, yml, gatewayOpts{api: true, grace: 10 * time.Second})

	reader := testpeer.StartReader(t, gw.URL+"door")
	defer reader.Stop()
	deadline := time.Now().Add(20 * time.Second)
	var l listJSON
	for {
		l = getList(t, gw)
		if d := l["door"]; len(d.Consumers) == 1 && d.Consumers[0].BytesSend > 0 && d.Producers[0].State == "online" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the list never showed door online with its reader: %+v", l["door"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(l) != 2 || len(l["door"].Producers) != 2 || l["idle"].Producers[0].State != "idle" {
		t.Fatalf("list: %+v", l)
	}
	if got := l["door"].Consumers[0].Protocol; got != "rtsp+tcp" {
		t.Errorf("consumer protocol %q", got)
	}
	if !strings.Contains(l["door"].Producers[0].URL, "admin:***@") {
		t.Errorf("producer url %q", l["door"].Producers[0].URL)
	}

	// every endpoint, none with the password
	for _, path := range []string{
		"/api/streams", "/api/streams?src=door", "/api/streams?src=idle", "/api/streams?src=nosuch",
		"/", "/stream.html?src=door", "/metrics",
		"/api/streams?dst=idle&src=" + url.QueryEscape("ffmpeg:/nonexistent#audio=pcmu"),
	} {
		method := "GET"
		if strings.Contains(path, "dst=") {
			method = "POST"
		}
		_, body := apiCall(t, method, gw.API+path)
		if strings.Contains(string(body), pass) {
			t.Errorf("%s %s shows the camera password:\n%s", method, path, body)
		}
	}
	if strings.Contains(gw.logs.String(), pass) {
		t.Error("the log shows the camera password")
	}
}

// TestSourceHealth: a camera that stops sending shows, within its
// #timeout, the state change and the last error in words in the API.
func TestSourceHealth(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartFakeCamera(t, testpeer.FakeCameraOptions{StallAfter: 1500 * time.Millisecond, StallFor: time.Hour})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"#timeout=2\n", gatewayOpts{api: true})
	reader := testpeer.StartReader(t, gw.URL+"cam")
	defer reader.Stop()
	deadline := time.Now().Add(15 * time.Second)
	sawOnline := false
	for {
		p := getList(t, gw)["cam"].Producers[0]
		sawOnline = sawOnline || p.State == "online"
		if sawOnline && p.State != "online" && p.LastError != "" {
			if !strings.Contains(p.LastError, "no data") && !strings.Contains(p.LastError, "in time") {
				t.Errorf("last error %q does not say the camera went silent", p.LastError)
			}
			if p.Reconnects < 1 {
				t.Errorf("reconnects %d", p.Reconnects)
			}
			m := scrape(t, gw)
			if metric(m, "rtspgate_source_up", `stream="cam"`) != 0 || metric(m, "rtspgate_source_reconnects_total", `stream="cam"`) < 1 {
				t.Errorf("metrics do not show the source down with a reconnect")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never changed after the camera went silent: %+v (online seen: %v)", p, sawOnline)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
