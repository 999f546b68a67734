package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rtspgate/rtspgate/internal/testpeer"
)

// metric returns the value of the first sample of /metrics whose line
// starts with name and holds every label in labels, or -1.
func metric(text, name string, labels ...string) float64 {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name) || strings.HasPrefix(l, "#") {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if !ok {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			return v
		}
	}
	return -1
}

func scrape(t *testing.T, gw *gateway) string {
	t.Helper()
	code, body := apiCall(t, "GET", gw.API+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return string(body)
}

// waitMetric scrapes until cond holds for the text, or fails after d.
func waitMetric(t *testing.T, gw *gateway, what string, d time.Duration, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		text := scrape(t, gw)
		if cond(text) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s:\n%s", what, regexp.MustCompile(`(?m)^(#|go_|process_|promhttp_).*\n`).ReplaceAllString(text, ""))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMetrics: scraped while 3 readers play a camera: the reader
// gauge is 3 and then 0, counters rise, and a camera that goes away shows
// its source down with a reconnect.
func TestMetrics(t *testing.T) {
	t.Parallel()
	cam := testpeer.StartCamera(t, testpeer.CameraOptions{Path: "/cam"})
	gw := startGateway(t, "streams:\n  cam: "+cam.URL+"#timeout=3\n", gatewayOpts{api: true, grace: 2 * time.Second})
	var readers []*testpeer.Process
	for range 3 {
		readers = append(readers, testpeer.StartReader(t, gw.URL+"cam"))
	}
	st := `stream="cam"`
	first := waitMetric(t, gw, "3 readers", 20*time.Second, func(s string) bool {
		return metric(s, "rtspgate_stream_readers", st) == 3 && metric(s, "rtspgate_stream_bytes_out_total", st) > 0
	})
	time.Sleep(time.Second)
	second := scrape(t, gw)
	for _, name := range []string{"rtspgate_stream_bytes_in_total", "rtspgate_stream_packets_in_total", "rtspgate_stream_bytes_out_total", "rtspgate_stream_packets_out_total"} {
		if a, b := metric(first, name, st), metric(second, name, st); !(b > a && a > 0) {
			t.Errorf("%s went from %v to %v, want it to rise", name, a, b)
		}
	}
	if metric(second, "rtspgate_source_up", st) != 1 || metric(second, "rtspgate_source_state", st, `state="online"`) != 1 {
		t.Errorf("source not shown online")
	}
	if metric(second, "process_cpu_seconds_total") < 0 {
		t.Error("no process metrics")
	}
	if strings.Contains(second, "127.0.0.1:") && strings.Contains(second, "reader") && strings.Count(second, "remote") > 0 {
		t.Error("a per-reader label")
	}

	cam.Stop()
	waitMetric(t, gw, "the source down with a reconnect", 15*time.Second, func(s string) bool {
		return metric(s, "rtspgate_source_up", st) == 0 && metric(s, "rtspgate_source_state", st, `state="down"`) == 1 &&
			metric(s, "rtspgate_source_reconnects_total", st) >= 1
	})
	for _, r := range readers {
		r.Stop()
	}
	waitMetric(t, gw, "0 readers", 10*time.Second, func(s string) bool { return metric(s, "rtspgate_stream_readers", st) == 0 })
}
