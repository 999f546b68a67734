package e2e

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/app"
	"github.com/rtspgate/rtspgate/internal/config"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// logBuffer collects rtspgate's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor polls cond until it holds or the time is up.
func (l *logBuffer) waitFor(t *testing.T, what string, d time.Duration, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond(l.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %s:\n%s", what, l.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gateway is an in-process rtspgate.
type gateway struct {
	app  *app.App
	logs *logBuffer
	// URL is rtsp://127.0.0.1:PORT/ (ending with a slash).
	URL  string
	Port int
	// API is http://127.0.0.1:PORT (no slash) with gatewayOpts.api.
	API string
}

type gatewayOpts struct {
	udp          bool   // enable UDP readers on free ports
	listen       string // RTSP listen address; default 127.0.0.1:0
	demo         bool   // add the built-in demo stream
	bufferSize   int
	writeTimeout time.Duration
	grace        time.Duration // sources stay this long after the last reader; default 1 s
	api          bool          // start the HTTP API on a free port (see gateway.API)
}

// startGateway starts rtspgate with the YAML config yml (rtsp.listen is set
// here), and stops it when the test ends.
func startGateway(t *testing.T, yml string, o gatewayOpts) *gateway {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if o.demo {
		cfg = app.WithDemo(cfg)
	}
	cfg.API.Listen = ""
	if o.api {
		cfg.API.Listen = "127.0.0.1:0"
	}
	cfg.RTSP.Listen = o.listen
	if cfg.RTSP.Listen == "" {
		cfg.RTSP.Listen = "127.0.0.1:0"
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.grace == 0 {
		o.grace = time.Second
	}
	opts := app.Options{
		StreamOptions: stream.Options{Grace: o.grace, PublisherGrace: 2 * time.Second, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, BufferSize: o.bufferSize},
		WriteTimeout:  o.writeTimeout,
	}
	cfg.RTSP.RTPAddress, cfg.RTSP.RTCPAddress = "", ""
	var a *app.App
	// start reports whether the app found its UDP ports taken (it then goes
	// on without UDP)
	start := func() (taken bool) {
		var err error
		if a, err = app.Start(cfg, opts, log); err != nil {
			t.Fatalf("start: %v", err)
		}
		if !strings.Contains(logs.String(), "RTSP over UDP is off") {
			return false
		}
		a.Close()
		logs.Reset()
		return true
	}
	if o.udp {
		testpeer.OnFreeUDPPair(t, func(rtp int) bool {
			// no host: rtsp.listen's (127.0.0.1 unless the test listens on
			// all addresses)
			cfg.RTSP.RTPAddress = fmt.Sprintf(":%d", rtp)
			cfg.RTSP.RTCPAddress = fmt.Sprintf(":%d", rtp+1)
			return start()
		})
	} else {
		start()
	}
	t.Cleanup(func() {
		a.Close()
		if t.Failed() {
			t.Logf("rtspgate log:\n%s", logs.String())
		}
	})
	addr := a.RTSP.Addr().String()
	port := 0
	fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port)
	gw := &gateway{app: a, logs: logs, URL: fmt.Sprintf("rtsp://127.0.0.1:%d/", port), Port: port}
	if a.API != nil {
		gw.API = "http://" + a.API.Addr().String()
	}
	return gw
}

func codecsOf(streams []testpeer.ProbeStream) string {
	var parts []string
	for _, s := range streams {
		parts = append(parts, s.CodecType+":"+s.CodecName)
	}
	return strings.Join(parts, ",")
}
