package api

import (
	"context"
	"errors"
	"github.com/rtspgate/rtspgate/internal/redact"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsTimeout bounds the Backend.List of one scrape: Prometheus gives
// up after 10 s by default, and an answer late is worth less than an error.
const metricsTimeout = 3 * time.Second

// metricsHandler serves GET /metrics in Prometheus' text format: the
// streams and sources as Backend.List shows them at scrape time, and the
// process and Go runtime, from a registry of its own (the global default
// registry would take in whatever any library registers there).
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		newStreamCollector(s),
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// a backend that cannot list makes the scrape fail (up = 0)
		// rather than streams vanish from the graphs without a word
		ErrorHandling:       promhttp.HTTPErrorOnError,
		MaxRequestsInFlight: 4,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed here; use GET")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// streamCollector turns Backend.List into metrics at each scrape. Labels
// are per stream and per source, never per reader, so the number of series
// follows the config, not the audience.
type streamCollector struct {
	s *Server

	readers, bytesIn, packetsIn, bytesOut, packetsOut, drops *prometheus.Desc
	up, state, reconnects, lost, jitter                      *prometheus.Desc

	// mu serialises scrapes: out is updated from one List at a time, in order
	mu  sync.Mutex
	out map[string]*streamOut // by stream name
}

// streamOut keeps a stream's bytes and packets out from going back when a
// reader leaves: a counter that falls reads as a reset to Prometheus.
type streamOut struct {
	gone [2]uint64                 // bytes, packets of readers gone, as last seen
	seen map[consumerKey][2]uint64 // the readers of the last scrape
}

type consumerKey struct {
	addr, protocol string
	since          time.Time
}

func newStreamCollector(s *Server) *streamCollector {
	st := []string{"stream"}
	src := []string{"stream", "source"}
	d := func(name, help string, labels []string, more ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string(nil), labels...), more...), nil)
	}
	return &streamCollector{
		s:          s,
		readers:    d("rtspgate_stream_readers", "Readers of the stream now.", st),
		bytesIn:    d("rtspgate_stream_bytes_in_total", "RTP bytes received from the stream's producers.", st),
		packetsIn:  d("rtspgate_stream_packets_in_total", "RTP packets received from the stream's producers.", st),
		bytesOut:   d("rtspgate_stream_bytes_out_total", "Media bytes written to the stream's readers.", st),
		packetsOut: d("rtspgate_stream_packets_out_total", "RTP packets written to the stream's readers.", st),
		drops:      d("rtspgate_stream_drops_total", "What the stream dropped, by reason: packets, or readers for \"reader too slow\" and \"reader stuck\".", st, "reason"),
		up:         d("rtspgate_source_up", "1 if the source is online, 0 otherwise.", src),
		state:      d("rtspgate_source_state", "1 for the source's current state.", src, "state"),
		reconnects: d("rtspgate_source_reconnects_total", "Times the source failed and was retried.", src),
		lost:       d("rtspgate_source_packets_lost_total", "RTP packets the source numbered but never delivered (sequence gaps).", src),
		jitter:     d("rtspgate_source_jitter_seconds", "Largest RTP interarrival jitter of the source's tracks (RFC 3550).", src),
		out:        map[string]*streamOut{},
	}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.readers, c.bytesIn, c.packetsIn, c.bytesOut, c.packetsOut, c.drops,
		c.up, c.state, c.reconnects, c.lost, c.jitter} {
		ch <- d
	}
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	timeout := min(metricsTimeout, c.s.callTimeout) // tests shorten callTimeout
	ctx, cancel := context.WithTimeout(c.s.base, timeout)
	defer cancel()
	list, err := call(ctx, func() ([]*StreamInfo, error) { return c.s.cfg.Backend.List(ctx) })
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("the stream list took longer than " + timeout.String())
		}
		ch <- prometheus.NewInvalidMetric(c.readers, errors.New("metrics: "+redact.Text(err.Error())))
		return
	}
	seen := map[string]bool{}
	for _, info := range list {
		if info == nil || seen[info.Name] {
			continue // one series per stream: a repeat would fail the scrape
		}
		seen[info.Name] = true
		c.collectStream(ch, info)
	}
	for name := range c.out {
		if !seen[name] {
			delete(c.out, name) // the stream is gone; so are its series
		}
	}
}

func (c *streamCollector) collectStream(ch chan<- prometheus.Metric, info *StreamInfo) {
	name := info.Name
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.readers, float64(len(info.Consumers)), name)
	counter(c.bytesIn, float64(info.BytesIn), name)
	counter(c.packetsIn, float64(info.PacketsIn), name)
	out := c.outTotals(name, info.Consumers)
	counter(c.bytesOut, float64(out[0]), name)
	counter(c.packetsOut, float64(out[1]), name)
	for reason, n := range info.Drops {
		counter(c.drops, float64(n), name, reason)
	}
	sources := map[string]int{}
	for _, p := range info.Producers {
		// masked again: a URL with a password must never leave, and the
		// label is what a dashboard shows
		src := redact.Text(p.URL)
		if strings.HasPrefix(src, "publisher ") {
			// one series per stream, not per publisher connection
			src = "publisher"
		}
		if sources[src]++; sources[src] > 1 {
			src += " #" + strconv.Itoa(sources[src]) // the same source twice
		}
		up := 0.0
		if p.State == "online" {
			up = 1
		}
		gauge(c.up, up, name, src)
		known := false
		for _, st := range [...]string{"idle", "connecting", "online", "down"} {
			v := 0.0
			if st == p.State {
				v, known = 1, true
			}
			gauge(c.state, v, name, src, st)
		}
		if !known && p.State != "" {
			gauge(c.state, 1, name, src, p.State)
		}
		counter(c.reconnects, float64(p.Reconnects), name, src)
		counter(c.lost, float64(p.Lost), name, src)
		gauge(c.jitter, p.JitterMS/1000, name, src)
	}
}

// outTotals returns the bytes and packets written to a stream's readers:
// those of the readers now, plus what the readers that left had sent when
// last seen (what they sent after that scrape is not known). c.mu held.
func (c *streamCollector) outTotals(name string, consumers []Consumer) [2]uint64 {
	so := c.out[name]
	if so == nil {
		so = &streamOut{}
		c.out[name] = so
	}
	now := make(map[consumerKey][2]uint64, len(consumers))
	var sum [2]uint64
	for _, cs := range consumers {
		k := consumerKey{cs.RemoteAddr, cs.Protocol, cs.Since}
		v := [2]uint64{cs.BytesSent, cs.PacketsSent}
		now[k] = [2]uint64{now[k][0] + v[0], now[k][1] + v[1]}
		sum[0] += v[0]
		sum[1] += v[1]
	}
	for k, v := range so.seen {
		if _, ok := now[k]; !ok {
			so.gone[0] += v[0]
			so.gone[1] += v[1]
		}
	}
	so.seen = now
	return [2]uint64{so.gone[0] + sum[0], so.gone[1] + sum[1]}
}
