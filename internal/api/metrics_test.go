package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listBackend is a fakeBackend whose List is list.
type listBackend struct {
	*fakeBackend
	list func(ctx context.Context) ([]*StreamInfo, error)
}

func (b *listBackend) List(ctx context.Context) ([]*StreamInfo, error) { return b.list(ctx) }

// metricsStreams is a camera with two sources (one URL with its password
// unmasked, as a careless backend might give it) and two readers, and a
// stream waiting for a publisher.
func metricsStreams() map[string]*StreamInfo {
	return map[string]*StreamInfo{
		"door": {
			Producers: []Producer{
				{URL: "rtsp://admin:" + secret + "@192.168.1.20/stream1", State: "online", Reconnects: 2, Lost: 7, JitterMS: 12.5},
				{URL: "rtsp://192.168.1.21/sub", State: "down", Reconnects: 5, LastError: "connection refused"},
			},
			Consumers: []Consumer{
				{RemoteAddr: "192.168.1.5:51234", Protocol: "rtsp+tcp", BytesSent: 1000, PacketsSent: 10},
				{RemoteAddr: "192.168.1.6:40000", Protocol: "rtsp+udp", BytesSent: 500, PacketsSent: 5},
			},
			BytesIn: 123456, PacketsIn: 789,
			Drops: map[string]uint64{"too big": 1, "reader too slow": 3, "reader stuck": 0},
		},
		"pushed": {},
	}
}

// scrape GETs /metrics from loopback and returns its series: the text
// before each value ("name{labels}") to the value.
func scrape(t *testing.T, s *Server) map[string]float64 {
	t.Helper()
	w := do(t, s, http.MethodGet, "/metrics", "127.0.0.1:4000", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q, want Prometheus' text format", ct)
	}
	series := map[string]float64{}
	for line := range strings.SplitSeq(w.Body.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		series[line[:i]] = v
	}
	return series
}

func TestMetrics(t *testing.T) {
	fb := &fakeBackend{streams: metricsStreams()}
	s, _ := newTest(t, Config{}, fb)
	got := scrape(t, s)
	const (
		cam = `rtsp://admin:***@192.168.1.20/stream1`
		sub = `rtsp://192.168.1.21/sub`
	)
	want := map[string]float64{
		`rtspgate_stream_readers{stream="door"}`:                                   2,
		`rtspgate_stream_bytes_in_total{stream="door"}`:                            123456,
		`rtspgate_stream_packets_in_total{stream="door"}`:                          789,
		`rtspgate_stream_bytes_out_total{stream="door"}`:                           1500,
		`rtspgate_stream_packets_out_total{stream="door"}`:                         15,
		`rtspgate_stream_drops_total{reason="too big",stream="door"}`:              1,
		`rtspgate_stream_drops_total{reason="reader too slow",stream="door"}`:      3,
		`rtspgate_stream_drops_total{reason="reader stuck",stream="door"}`:         0,
		`rtspgate_source_up{source="` + cam + `",stream="door"}`:                   1,
		`rtspgate_source_up{source="` + sub + `",stream="door"}`:                   0,
		`rtspgate_source_state{source="` + cam + `",state="online",stream="door"}`: 1,
		`rtspgate_source_state{source="` + cam + `",state="down",stream="door"}`:   0,
		`rtspgate_source_state{source="` + cam + `",state="idle",stream="door"}`:   0,
		`rtspgate_source_state{source="` + sub + `",state="down",stream="door"}`:   1,
		`rtspgate_source_state{source="` + sub + `",state="online",stream="door"}`: 0,
		`rtspgate_source_reconnects_total{source="` + cam + `",stream="door"}`:     2,
		`rtspgate_source_reconnects_total{source="` + sub + `",stream="door"}`:     5,
		`rtspgate_source_packets_lost_total{source="` + cam + `",stream="door"}`:   7,
		`rtspgate_source_jitter_seconds{source="` + cam + `",stream="door"}`:       0.0125,
		`rtspgate_stream_readers{stream="pushed"}`:                                 0,
		`rtspgate_stream_bytes_out_total{stream="pushed"}`:                         0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.Contains(k, "192.168.1.5") || strings.Contains(k, "192.168.1.6") {
			t.Errorf("a reader in a label: %s", k) // per stream and source only
		}
	}
	// the process and the Go runtime come along
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// HEAD is served, other methods are not
	if w := do(t, s, http.MethodHead, "/metrics", "127.0.0.1:4000", nil); w.Code != http.StatusOK {
		t.Errorf("HEAD /metrics: %d", w.Code)
	}
	if w := do(t, s, http.MethodPost, "/metrics", "127.0.0.1:4000", nil); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestMetricsOutNeverGoesBack: when a reader leaves, what it had sent stays
// in the stream's totals, so the counters only grow.
func TestMetricsOutNeverGoesBack(t *testing.T) {
	streams := metricsStreams()
	s, _ := newTest(t, Config{}, &fakeBackend{streams: streams})
	const bytes, packets = `rtspgate_stream_bytes_out_total{stream="door"}`, `rtspgate_stream_packets_out_total{stream="door"}`
	if got := scrape(t, s); got[bytes] != 1500 || got[packets] != 15 {
		t.Fatalf("out %v bytes, %v packets; want 1500, 15", got[bytes], got[packets])
	}
	door := streams["door"]
	door.Consumers = []Consumer{door.Consumers[1]}
	door.Consumers[0].BytesSent, door.Consumers[0].PacketsSent = 700, 7
	if got := scrape(t, s); got[bytes] != 1700 || got[packets] != 17 {
		t.Fatalf("after a reader left: out %v bytes, %v packets; want 1700, 17", got[bytes], got[packets])
	}
}

// TestMetricsSameSourceTwice: two sources the same once masked stay two
// series; a repeat would fail the whole scrape.
func TestMetricsSameSourceTwice(t *testing.T) {
	streams := map[string]*StreamInfo{"cam": {Producers: []Producer{
		{URL: "rtsp://admin:a@cam/live", State: "online"},
		{URL: "rtsp://admin:b@cam/live", State: "down"},
	}}}
	s, _ := newTest(t, Config{}, &fakeBackend{streams: streams})
	got := scrape(t, s)
	if got[`rtspgate_source_up{source="rtsp://admin:***@cam/live",stream="cam"}`] != 1 ||
		got[`rtspgate_source_up{source="rtsp://admin:***@cam/live #2",stream="cam"}`] != 0 {
		t.Fatalf("sources: %v", got)
	}
}

func TestMetricsBackendFailing(t *testing.T) {
	t.Run("an error fails the scrape, password masked", func(t *testing.T) {
		b := &listBackend{fakeBackend: &fakeBackend{}, list: func(context.Context) ([]*StreamInfo, error) {
			return nil, errors.New("rtsp://admin:" + secret + "@cam: registry closed")
		}}
		s, logs := newTest(t, Config{}, b)
		w := do(t, s, http.MethodGet, "/metrics", "127.0.0.1:4000", nil)
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "registry closed") {
			t.Fatalf("GET /metrics with a failing backend: %d %s", w.Code, w.Body)
		}
		if !strings.Contains(logs.String(), "registry closed") {
			t.Fatalf("the failure is not logged:\n%s", logs)
		}
	})
	t.Run("a slow list is bounded", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		b := &listBackend{fakeBackend: &fakeBackend{}, list: func(context.Context) ([]*StreamInfo, error) {
			<-release // ignores its context
			return nil, nil
		}}
		s, _ := newTest(t, Config{}, b)
		s.callTimeout = 100 * time.Millisecond
		start := time.Now()
		w := do(t, s, http.MethodGet, "/metrics", "127.0.0.1:4000", nil)
		if w.Code != http.StatusInternalServerError || time.Since(start) > 2*time.Second {
			t.Fatalf("GET /metrics with a stuck backend: %d after %v", w.Code, time.Since(start))
		}
	})
}

func TestMetricsNeedLogin(t *testing.T) {
	s, _ := newTest(t, Config{Username: "admin", Password: "pw"}, &fakeBackend{streams: metricsStreams()})
	if w := do(t, s, http.MethodGet, "/metrics", "192.168.1.9:4000", nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without credentials from the network: %d", w.Code)
	}
	r := "Basic " + "YWRtaW46cHc=" // admin:pw
	if w := do(t, s, http.MethodGet, "/metrics", "192.168.1.9:4000", nil, "Authorization", r); w.Code != http.StatusOK {
		t.Fatalf("GET /metrics with credentials: %d", w.Code)
	}
}
