package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const secret = "s3cret" // a password that must never show in an answer or a log

// fakeBackend answers from a fixed map and records Talk calls.
type fakeBackend struct {
	streams map[string]*StreamInfo
	talkErr error
	// probe, when set, replaces the map lookup
	probe func(ctx context.Context, name string) (*StreamInfo, error)

	mu    sync.Mutex
	talks []string // "name|src"
}

func (f *fakeBackend) Probe(ctx context.Context, name string) (*StreamInfo, error) {
	if f.probe != nil {
		return f.probe(ctx, name)
	}
	info, ok := f.streams[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return info, nil
}

func (f *fakeBackend) List(ctx context.Context) ([]*StreamInfo, error) {
	var out []*StreamInfo
	for name, info := range f.streams {
		cp := *info
		cp.Name = name
		out = append(out, &cp)
	}
	return out, nil
}

func (f *fakeBackend) Talk(ctx context.Context, name, src string) error {
	f.mu.Lock()
	f.talks = append(f.talks, name+"|"+src)
	f.mu.Unlock()
	if _, ok := f.streams[name]; !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return f.talkErr
}

func (f *fakeBackend) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.talks...)
}

// doorbell is a camera with video, audio and a PCMU backchannel.
func doorbell() *StreamInfo {
	return &StreamInfo{
		Name: "door",
		Producers: []Producer{{
			URL:   "rtsp://admin:***@192.168.1.20/stream1",
			State: "online",
			Medias: []Media{
				{Kind: "video", Direction: "recvonly", Codecs: []string{"H264"}},
				{Kind: "audio", Direction: "recvonly", Codecs: []string{"PCMA/8000"}},
				{Kind: "audio", Direction: "sendonly", Codecs: []string{"PCMU/8000", "PCMA/8000", "PCMU/8000"}},
			},
		}},
		Consumers: []Consumer{{FormatName: "rtsp", Protocol: "rtsp+tcp", RemoteAddr: "192.168.1.5:51234"}},
	}
}

// yard is a camera that refused the backchannel, and a second source that
// is down.
func yard() *StreamInfo {
	return &StreamInfo{
		Name: "yard",
		Producers: []Producer{
			{
				URL: "rtsp://192.168.1.22/live", State: "online",
				Medias:      []Media{{Kind: "video", Direction: "recvonly", Codecs: []string{"H265"}}},
				Backchannel: "camera refused the talk SETUP",
			},
			{URL: "rtsp://192.168.1.23/live", State: "failed", LastError: "dial tcp 192.168.1.23:554: connection refused"},
		},
	}
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTest makes a server (not listening) around b; its log goes to the
// returned buffer.
func newTest(t *testing.T, cfg Config, b Backend) (*Server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Backend = b
	s := New(cfg)
	t.Cleanup(func() {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows a password:\n%s", logs)
		}
	})
	return s, logs
}

// do runs one request through the whole handler, from remote (host:port).
func do(t *testing.T, s *Server, method, target, remote string, body io.Reader, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if strings.Contains(w.Body.String(), secret) {
		t.Errorf("%s %s: the answer shows a password: %s", method, target, w.Body)
	}
	if v := w.Header().Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("%s %s: CORS header %q", method, target, v)
	}
	return w
}

const local = "127.0.0.1:40000"

// wantError checks an error answer: its status, JSON content type, and an
// error text holding want.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var e map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("not JSON: %v: %s", err, w.Body)
	}
	msg, _ := e["error"].(string)
	if len(e) != 1 || !strings.Contains(msg, want) {
		t.Errorf("body %s, want {\"error\": \"…%s…\"}", w.Body, want)
	}
}

// TestProbeJSON: the probe answer has go2rtc's shape: producers with url
// and medias as "kind, direction, codecs" strings, consumers; plus
// rtspgate's own fields.
func TestProbeJSON(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell(), "yard": yard(), "pushed": {Name: "pushed"}}}
	s, _ := newTest(t, Config{RTSPPort: 8554}, fb)
	for _, tc := range []struct {
		target, want string
	}{
		{"/api/streams?src=door", `{
			"name": "door",
			"rtsp_port": 8554,
			"producers": [{
				"url": "rtsp://admin:***@192.168.1.20/stream1",
				"medias": ["video, recvonly, H264", "audio, recvonly, PCMA/8000", "audio, sendonly, PCMU/8000, PCMA/8000"],
				"state": "online", "reconnects": 0, "lost": 0, "jitter_ms": 0, "quirks": []
			}],
			"consumers": [{"format_name": "rtsp", "protocol": "rtsp+tcp", "remote_addr": "192.168.1.5:51234", "bytes_send": 0, "packets_send": 0}],
			"bytes_in": 0, "packets_in": 0, "drops": {}
		}`},
		// go2rtc's probe query is accepted
		{"/api/streams?src=door&video=all&audio=all&microphone", ""},
		{"/api/streams?src=yard", `{
			"name": "yard",
			"rtsp_port": 8554,
			"producers": [
				{"url": "rtsp://192.168.1.22/live", "medias": ["video, recvonly, H265"], "state": "online",
				 "backchannel_unavailable": "camera refused the talk SETUP", "reconnects": 0, "lost": 0, "jitter_ms": 0, "quirks": []},
				{"url": "rtsp://192.168.1.23/live", "state": "failed", "last_error": "dial tcp 192.168.1.23:554: connection refused", "reconnects": 0, "lost": 0, "jitter_ms": 0, "quirks": []}
			],
			"consumers": [],
			"bytes_in": 0, "packets_in": 0, "drops": {}
		}`},
		{"/api/streams?src=pushed", `{"name": "pushed", "rtsp_port": 8554, "producers": [], "consumers": [], "bytes_in": 0, "packets_in": 0, "drops": {}}`},
	} {
		t.Run(tc.target, func(t *testing.T) {
			w := do(t, s, "GET", tc.target, local, nil)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if tc.want == "" {
				return
			}
			var got, want any
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%s\nwant\n%s", w.Body, tc.want)
			}
		})
	}
}

func TestProbeErrors(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}}
	s, _ := newTest(t, Config{}, fb)
	wantError(t, do(t, s, "GET", "/api/streams?src=nope", local, nil), 404, `no such stream: "nope"`)
	if w := do(t, s, "GET", "/api/streams", local, nil); w.Code != 200 || !strings.Contains(w.Body.String(), `"door": {`) {
		t.Errorf("the list: %d %s", w.Code, w.Body)
	}
	wantError(t, do(t, s, "GET", "/api/streams?src=", local, nil), 400, "src=")
	wantError(t, do(t, s, "GET", "/api/streams?src=%zz", local, nil), 400, "the query cannot be read")
	wantError(t, do(t, s, "GET", "/api/streams?src=a%0Ab", local, nil), 400, "control character")
	wantError(t, do(t, s, "GET", "/api/streams?src="+strings.Repeat("a", 300), local, nil), 400, "longer than 256")
	w := do(t, s, "PUT", "/api/streams?src=door", local, nil)
	wantError(t, w, 405, "use GET or POST")
	if a := w.Header().Get("Allow"); a != "GET, HEAD, POST" {
		t.Errorf("Allow %q", a)
	}
	wantError(t, do(t, s, "GET", "/api/nothing", local, nil), 404, "no such API endpoint")
	wantError(t, do(t, s, "GET", "/api/streams/door", local, nil), 404, "no such API endpoint")
	// a preflight gets no CORS headers (do checks) and no way in
	wantError(t, do(t, s, "OPTIONS", "/api/streams?dst=door", local, nil, "Origin", "http://evil.example",
		"Access-Control-Request-Method", "POST"), 405, "")
}

// TestBackendErrors: each Backend error gets its status, with the
// backend's message (passwords masked) as the JSON error.
func TestBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{fmt.Errorf("%w: door", ErrNoBackchannel), 409, "the stream has no backchannel: door"},
		{fmt.Errorf("%w: only ffmpeg: sources play", ErrBadSource), 400, "only ffmpeg: sources play"},
		{errors.New("camera rtsp://admin:" + secret + "@cam/x answered 500"), 500, "camera rtsp://admin:***@cam/x answered 500"},
		{context.DeadlineExceeded, 504, "no answer within"},
	} {
		fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}, talkErr: tc.err}
		s, _ := newTest(t, Config{}, fb)
		wantError(t, do(t, s, "POST", "/api/streams?dst=door&src=ffmpeg:x.mp3", local, nil), tc.status, tc.want)
	}
}

// TestTalk: POST dst&src starts playback, an empty or missing src stops
// it; the answer is the stream.
func TestTalk(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}}
	s, logs := newTest(t, Config{}, fb)
	src := "ffmpeg:rtsp://admin:" + secret + "@radio/live#audio=pcmu"
	for _, target := range []string{
		"/api/streams?dst=door&src=" + strings.ReplaceAll(strings.ReplaceAll(src, "#", "%23"), ":", "%3A"),
		"/api/streams?dst=door&src=",
		"/api/streams?dst=door",
	} {
		w := do(t, s, "POST", target, local, nil)
		if w.Code != 200 {
			t.Fatalf("POST %s: status %d: %s", target, w.Code, w.Body)
		}
		var got streamJSON
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Name != "door" || len(got.Producers) != 1 {
			t.Errorf("POST %s: answer %s (%v)", target, w.Body, err)
		}
	}
	want := []string{"door|" + src, "door|", "door|"}
	if got := fb.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Talk calls %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "admin:***@radio") {
		t.Errorf("the log does not show the masked source:\n%s", logs)
	}

	wantError(t, do(t, s, "POST", "/api/streams?src=ffmpeg:x.mp3", local, nil), 400, "dst= names the stream")
	wantError(t, do(t, s, "POST", "/api/streams?dst=nope&src=ffmpeg:x.mp3", local, nil), 404, "no such stream")
	wantError(t, do(t, s, "POST", "/api/streams?dst=door&src=%zz", local, nil), 400, "the query cannot be read")
	if got := fb.calls(); len(got) != 4 { // only the unknown stream reached the backend
		t.Errorf("Talk calls %q", got)
	}
}

// TestBodyLimit: a POST body (which means nothing here) over 64 KiB is
// refused with 413, whether its length is announced or not.
func TestBodyLimit(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}}
	s, _ := newTest(t, Config{}, fb)
	big := strings.Repeat("x", maxBodyBytes+1)
	wantError(t, do(t, s, "POST", "/api/streams?dst=door&src=a", local, strings.NewReader(big)), 413, "request body over 65536 bytes")

	r := httptest.NewRequest("POST", "/api/streams?dst=door&src=a", io.MultiReader(strings.NewReader(big)))
	r.ContentLength = -1 // chunked: the length is not known up front
	r.RemoteAddr = local
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	wantError(t, w, 413, "request body over 65536 bytes")

	if got := fb.calls(); len(got) != 0 {
		t.Errorf("Talk called: %q", got)
	}
	if w := do(t, s, "POST", "/api/streams?dst=door&src=a", local, strings.NewReader("small")); w.Code != 200 {
		t.Errorf("small body: status %d: %s", w.Code, w.Body)
	}
}

// TestOrigin: a browser's cross-site POST is refused before the backend
// sees it; same-origin and non-browser POSTs, and any GET, pass.
func TestOrigin(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}}
	s, _ := newTest(t, Config{}, fb)
	const target = "http://gate.lan:1984/api/streams?dst=door&src=ffmpeg:x.mp3"
	for _, tc := range []struct {
		hdr    []string
		status int
	}{
		{[]string{"Origin", "http://evil.example"}, 403},
		{[]string{"Origin", "http://gate.lan:8123"}, 403}, // another port is another origin
		{[]string{"Origin", "null"}, 403},
		{[]string{"Sec-Fetch-Site", "cross-site"}, 403},
		{[]string{"Sec-Fetch-Site", "same-site", "Origin", "http://cam.gate.lan"}, 403},
		{[]string{"Origin", "http://gate.lan:1984"}, 200},
		{[]string{"Sec-Fetch-Site", "same-origin", "Origin", "http://gate.lan:1984"}, 200},
		{nil, 200}, // curl, scripts
	} {
		w := do(t, s, "POST", target, local, nil, tc.hdr...)
		if w.Code != tc.status {
			t.Errorf("POST with %q: status %d, want %d: %s", tc.hdr, w.Code, tc.status, w.Body)
		}
		if tc.status == 403 {
			wantError(t, w, 403, "cross-site request refused")
		}
	}
	if got := fb.calls(); len(got) != 3 {
		t.Errorf("Talk calls %q, want the 3 allowed", got)
	}
	if w := do(t, s, "GET", "http://gate.lan:1984/api/streams?src=door", local, nil, "Origin", "http://evil.example"); w.Code != 200 {
		t.Errorf("cross-site GET: status %d", w.Code)
	}
}

// TestAuth: with credentials set, every client not on loopback must give
// them (pages too); loopback clients need not.
func TestAuth(t *testing.T) {
	fb := &fakeBackend{streams: map[string]*StreamInfo{"door": doorbell()}}
	s, logs := newTest(t, Config{Username: "admin", Password: secret}, fb)
	for _, tc := range []struct {
		remote, user, pass string
		status             int
	}{
		{"192.168.1.9:5000", "", "", 401},
		{"192.168.1.9:5000", "admin", "wrong", 401},
		{"192.168.1.9:5000", "wrong", secret, 401},
		{"192.168.1.9:5000", "admin", secret + "x", 401},
		{"192.168.1.9:5000", "admin", secret, 200},
		{"[2001:db8::9]:5000", "", "", 401},
		{"[fe80::1%eth0]:5000", "", "", 401},
		{"not-an-address", "", "", 401},
		{"127.0.0.1:5000", "", "", 200},
		{"127.5.6.7:5000", "", "", 200},
		{"[::1]:5000", "", "", 200},
		{"[::ffff:127.0.0.1]:5000", "", "", 200},
	} {
		for _, target := range []string{"/api/streams?src=door", "/", "/stream.js"} {
			r := httptest.NewRequest("GET", target, nil)
			r.RemoteAddr = tc.remote
			if tc.user != "" {
				r.SetBasicAuth(tc.user, tc.pass)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("%s from %s as %q: status %d, want %d", target, tc.remote, tc.user, w.Code, tc.status)
			}
			if strings.Contains(w.Body.String(), secret) {
				t.Errorf("answer shows the password: %s", w.Body)
			}
			if tc.status == 401 {
				wantError(t, w, 401, "authentication required")
				if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="rtspgate"`) {
					t.Errorf("WWW-Authenticate %q", got)
				}
			}
		}
	}
	if !strings.Contains(logs.String(), "login failed") {
		t.Errorf("failed logins not logged:\n%s", logs)
	}
	// POST from the network with credentials reaches the backend
	r := httptest.NewRequest("POST", "/api/streams?dst=door&src=x", nil)
	r.RemoteAddr = "192.168.1.9:5000"
	r.SetBasicAuth("admin", secret)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != 200 || len(fb.calls()) != 1 {
		t.Errorf("POST with credentials: %d %s, calls %q", w.Code, w.Body, fb.calls())
	}
}

// TestPanic: a panic in the backend or in a handler is logged and
// answered 500; the server goes on.
func TestPanic(t *testing.T) {
	fb := &fakeBackend{probe: func(context.Context, string) (*StreamInfo, error) {
		panic("backend bug near rtsp://admin:" + secret + "@cam/")
	}}
	s, logs := newTest(t, Config{}, fb)
	wantError(t, do(t, s, "GET", "/api/streams?src=door", local, nil), 500, "internal error")
	if l := logs.String(); !strings.Contains(l, "panic in the backend") || !strings.Contains(l, "admin:***@cam") {
		t.Errorf("panic not logged (masked):\n%s", l)
	}

	h := headers(s.recoverPanic(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(fmt.Sprintf("handler bug, password %s in rtsp://u:%s@h/", "x", secret))
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	wantError(t, w, 500, "internal error")
	if !strings.Contains(logs.String(), "panic in an HTTP handler") {
		t.Errorf("handler panic not logged:\n%s", logs)
	}

	// http.ErrAbortHandler is net/http's own: passed on
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", p)
			}
		}()
		s.recoverPanic(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
}

// TestBounded: a backend that ignores ctx does not hold the request past
// the call timeout.
func TestBounded(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fb := &fakeBackend{probe: func(context.Context, string) (*StreamInfo, error) {
		<-release
		return nil, nil
	}}
	s, _ := newTest(t, Config{}, fb)
	s.callTimeout = 100 * time.Millisecond
	start := time.Now()
	wantError(t, do(t, s, "GET", "/api/streams?src=door", local, nil), 504, "no answer within 100ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestPages(t *testing.T) {
	s, _ := newTest(t, Config{}, &fakeBackend{})
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", `<meta name="viewport"`},
		{"/stream.html", "text/html; charset=utf-8", `<script src="stream.js"`},
		{"/stream.js", "text/javascript; charset=utf-8", "Two-way audio"},
		{"/style.css", "text/css; charset=utf-8", "max-width"},
	} {
		w := do(t, s, "GET", tc.path, local, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, w.Code, w.Header().Get("Content-Type"), tc.has, strings.Contains(w.Body.String(), tc.has))
		}
		if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v", tc.path, w.Header())
		}
		etag := w.Header().Get("ETag")
		if w := do(t, s, "GET", tc.path, local, nil, "If-None-Match", etag); w.Code != 304 {
			t.Errorf("GET %s with its ETag: %d", tc.path, w.Code)
		}
	}
	if w := do(t, s, "GET", "/nothing.html", local, nil); w.Code != 404 {
		t.Errorf("GET /nothing.html: %d", w.Code)
	}
	if w := do(t, s, "POST", "/", local, nil); w.Code != 405 {
		t.Errorf("POST /: %d", w.Code)
	}
}

// TestServer: Start listens, Close ends a probe in progress at once.
func TestServer(t *testing.T) {
	started := make(chan struct{})
	fb := &fakeBackend{probe: func(ctx context.Context, name string) (*StreamInfo, error) {
		if name == "door" {
			return doorbell(), nil
		}
		close(started)
		<-ctx.Done() // a camera that never answers
		return nil, ctx.Err()
	}}
	s, _ := newTest(t, Config{Listen: "127.0.0.1:0"}, fb)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr().String()
	res, err := http.Get(base + "/api/streams?src=door")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"audio, sendonly, PCMU/8000, PCMA/8000"`) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}

	errc := make(chan error, 1)
	go func() {
		res, err := http.Get(base + "/api/streams?src=slow")
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-started
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	<-errc
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("still serving after Close")
	}

	off := New(Config{Backend: fb})
	if err := off.Start(); err != nil || off.Addr() != nil || off.Close() != nil {
		t.Errorf("Listen \"\": Start %v, Addr %v", err, off.Addr())
	}
}

func TestCodecName(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rate, chans int
		want        string
	}{
		{"H264", 90000, 0, "H264"},
		{"H265", 0, 0, "H265"},
		{"PCMU", 8000, 0, "PCMU/8000"},
		{"OPUS", 48000, 2, "OPUS/48000/2"},
		{"MPEG4-GENERIC", 16000, 1, "MPEG4-GENERIC/16000/1"},
	} {
		if got := CodecName(tc.name, tc.rate, tc.chans); got != tc.want {
			t.Errorf("CodecName(%q, %d, %d) = %q, want %q", tc.name, tc.rate, tc.chans, got, tc.want)
		}
	}
}
