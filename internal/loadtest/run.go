package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// Bounds of a run.
const (
	MaxReaders  = 2000
	MaxDuration = 10 * time.Minute
	MaxWarmup   = time.Minute
)

// RunConfig describes one measurement.
type RunConfig struct {
	// URL is the rtsp:// stream the publisher records to and readers play.
	URL string
	// PlayURL is the stream readers play when it is not URL (a stream of
	// the server made from URL); empty for URL.
	PlayURL string
	// Readers is the number of readers, 1..MaxReaders.
	Readers int
	// Transport is the readers' RTP transport: TransportTCP (interleaved,
	// the default when empty) or TransportUDP.
	Transport string
	// Duration is the measured window, after the warm-up, up to MaxDuration.
	Duration time.Duration
	// Warmup starts when all readers are playing; nothing is measured in it.
	Warmup time.Duration
	// PID is the server process whose CPU and RSS are sampled; 0 for none.
	PID int
	// Input is looped by the publisher.
	Input *Input
	// FPS is the publisher's frame rate; 30 if 0.
	FPS int
	// Audio adds a PCMA track to the publisher.
	Audio bool
	// AllowRemote allows a URL whose host is not a loopback address.
	AllowRemote bool
	// Grace is how long readers keep reading after the publisher stops, so
	// that frames in flight arrive; 1 s if 0.
	Grace time.Duration
	// ConnectParallel is how many readers run their handshake at once; 32 if 0.
	ConnectParallel int
	// KeepAlive is the period of the readers' GET_PARAMETER; 20 s if 0.
	KeepAlive time.Duration
	// Logger receives progress; slog.Default() if nil.
	Logger *slog.Logger
}

func (c *RunConfig) setDefaults() {
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Grace == 0 {
		c.Grace = time.Second
	}
	if c.ConnectParallel == 0 {
		c.ConnectParallel = 32
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 20 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Transport == "" {
		c.Transport = TransportTCP
	}
}

// validate checks the config and returns the publisher's and the readers'
// URLs.
func (c *RunConfig) validate() (pubURL, playURL *base.URL, err error) {
	switch {
	case c.Readers < 1 || c.Readers > MaxReaders:
		return nil, nil, fmt.Errorf("readers %d: want 1..%d", c.Readers, MaxReaders)
	case c.Duration < time.Second || c.Duration > MaxDuration:
		return nil, nil, fmt.Errorf("duration %v: want 1s..%v", c.Duration, MaxDuration)
	case c.Warmup < 0 || c.Warmup > MaxWarmup:
		return nil, nil, fmt.Errorf("warmup %v: want 0..%v", c.Warmup, MaxWarmup)
	case c.Input == nil || len(c.Input.AUs) == 0:
		return nil, nil, errors.New("no input")
	case c.PID < 0:
		return nil, nil, fmt.Errorf("pid %d", c.PID)
	case c.Transport != TransportTCP && c.Transport != TransportUDP:
		return nil, nil, fmt.Errorf("transport %q: want %s or %s", c.Transport, TransportTCP, TransportUDP)
	}
	if pubURL, err = c.parseURL(c.URL); err != nil {
		return nil, nil, err
	}
	playURL = pubURL
	if c.PlayURL != "" {
		if playURL, err = c.parseURL(c.PlayURL); err != nil {
			return nil, nil, err
		}
	}
	return pubURL, playURL, nil
}

func (c *RunConfig) parseURL(s string) (*base.URL, error) {
	u, err := base.ParseURL(s)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", s, err)
	}
	if u.Scheme != "rtsp" {
		return nil, fmt.Errorf("url %q: only rtsp:// is supported", s)
	}
	if !c.AllowRemote && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("url %q: host is not a loopback address (-allow-remote allows it)", s)
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Result is what a run measured. Percentages are 0..100, CPU is in cores
// (CPU-seconds per second of the window).
type Result struct {
	URL       string `json:"url"`
	PlayURL   string `json:"play_url,omitempty"`
	Transport string `json:"transport"`
	Readers   int    `json:"readers"`
	ReaderFigures
	DurationS      float64 `json:"duration_s"`
	WarmupS        float64 `json:"warmup_s"`
	FramesSent     int     `json:"frames_sent"`
	FPS            float64 `json:"fps"`
	VideoMbitS     float64 `json:"video_mbit_s"`
	PublisherDrops int64   `json:"publisher_queue_drops"`
	ServerPID      int     `json:"server_pid,omitempty"`
	ServerCPU      float64 `json:"server_cpu_cores,omitempty"`
	ServerRSSMiB   float64 `json:"server_rss_mib,omitempty"`
	ToolCPU        float64 `json:"tool_cpu_cores"`
}

// Run publishes cfg.Input to cfg.URL, plays it with cfg.Readers readers and
// measures delivery, latency and the server's CPU and RSS. When ctx ends
// early the window is cut short and what was measured is returned.
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	cfg.setDefaults()
	u, playURL, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.Transport == TransportUDP {
		// The play URL may carry more medias than the publisher's (a
		// stream made of two sources): count two when there is audio.
		medias := 1
		if cfg.Audio {
			medias = 2
		}
		if err := checkFileLimit(cfg.Readers, medias); err != nil {
			return nil, err
		}
	}
	if cfg.PID != 0 {
		if _, err := ProcCPU(cfg.PID); err != nil {
			return nil, fmt.Errorf("server pid %d: %w", cfg.PID, err)
		}
	}
	log := cfg.Logger.With("url", u.CloneWithoutCredentials().String(), "transport", cfg.Transport)
	if playURL != u {
		log = log.With("play_url", playURL.CloneWithoutCredentials().String())
	}

	pub := &Publisher{URL: cfg.URL, Input: cfg.Input, FPS: cfg.FPS, Audio: cfg.Audio}
	if err := pub.Start(); err != nil {
		return nil, err
	}
	defer pub.Close()
	if pub.Waited > 0 {
		// a server slow to let go of a publisher shows here
		log.Info("the path still had a publisher: published after waiting", "waited", pub.Waited.Round(time.Millisecond))
	}
	pubCtx, pubCancel := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()
	var pubErr error
	pubStopped := false
	stopPublisher := func() {
		if !pubStopped {
			pubCancel()
			pubErr = <-pubDone
			pubStopped = true
		}
	}
	defer stopPublisher()

	// Readers outlive ctx by the grace period; they are stopped explicitly.
	readersCtx, readersCancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		readersCancel()
		wg.Wait()
	}()
	win := &window{}
	rcfg := &readerConfig{url: playURL, win: win, keepalive: cfg.KeepAlive, handshakeTimeout: 10 * time.Second,
		udp: cfg.Transport == TransportUDP}
	results := make([]*readerResult, cfg.Readers)
	ready := make(chan error, cfg.Readers)
	sem := make(chan struct{}, cfg.ConnectParallel)
	for i := range cfg.Readers {
		wg.Go(func() {
			sem <- struct{}{}
			results[i] = runReader(readersCtx, rcfg, func(err error) {
				<-sem
				ready <- err
			})
		})
	}
	log.Info("publishing; readers connecting", "readers", cfg.Readers)

	// interrupted is set when ctx ended or the publisher failed: the run
	// then goes straight to the summary.
	interrupted := false
	wait := func(d time.Duration) {
		if interrupted {
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			interrupted = true
		case pubErr = <-pubDone:
			pubStopped, interrupted = true, true
		}
	}

	connected := 0
	for range cfg.Readers {
		if interrupted {
			break
		}
		select {
		case err := <-ready:
			if err == nil {
				connected++
			}
		case <-ctx.Done():
			interrupted = true
		case pubErr = <-pubDone:
			pubStopped, interrupted = true, true
		}
	}
	log.Info("readers playing; warming up", "connected", connected, "warmup", cfg.Warmup)
	wait(cfg.Warmup)

	t0 := time.Now()
	win.startNanos.Store(t0.UnixNano())
	serverCPU0, _ := procCPUIf(cfg.PID)
	self0 := SelfCPU()
	if !interrupted {
		log.Info("measuring", "duration", cfg.Duration)
	}
	wait(cfg.Duration)
	t1 := time.Now()
	serverCPU1, cpuErr := procCPUIf(cfg.PID)
	self1 := SelfCPU()
	var rss int64
	var rssErr error
	if cfg.PID != 0 {
		rss, rssErr = ProcRSS(cfg.PID)
	}
	stopPublisher()

	if !interrupted || ctx.Err() == nil {
		t := time.NewTimer(cfg.Grace)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	readersCancel()
	wg.Wait()

	if pubErr != nil {
		return nil, fmt.Errorf("publisher: %w", pubErr)
	}
	frames, drops := pub.sent()
	res := summarize(cfg, frames, results, t0, t1)
	res.PublisherDrops = drops
	elapsed := t1.Sub(t0).Seconds()
	res.ToolCPU = (self1 - self0).Seconds() / elapsed
	if cfg.PID != 0 {
		if cpuErr != nil || rssErr != nil {
			return res, fmt.Errorf("server pid %d: %w", cfg.PID, errors.Join(cpuErr, rssErr))
		}
		res.ServerPID = cfg.PID
		res.ServerCPU = (serverCPU1 - serverCPU0).Seconds() / elapsed
		res.ServerRSSMiB = float64(rss) / (1 << 20)
	}
	if interrupted && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

func procCPUIf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return ProcCPU(pid)
}

// summarize computes delivery and latency over the frames sent in [t0, t1].
func summarize(cfg RunConfig, frames []sentFrame, results []*readerResult, t0, t1 time.Time) *Result {
	res := &Result{
		URL:       cfg.URL,
		Transport: cfg.Transport,
		Readers:   cfg.Readers,
		DurationS: t1.Sub(t0).Seconds(),
		WarmupS:   cfg.Warmup.Seconds(),
	}
	if u, err := base.ParseURL(cfg.URL); err == nil {
		res.URL = u.CloneWithoutCredentials().String()
	}
	if cfg.PlayURL != "" && cfg.PlayURL != cfg.URL {
		res.PlayURL = cfg.PlayURL
		if u, err := base.ParseURL(cfg.PlayURL); err == nil {
			res.PlayURL = u.CloneWithoutCredentials().String()
		}
	}
	first, last := windowFrames(frames, t0, t1)
	inWindow := last - first + 1
	res.FramesSent = max(inWindow, 0)
	if res.DurationS > 0 {
		res.FPS = float64(res.FramesSent) / res.DurationS
		bytes := 0
		for i := first; i <= last; i++ {
			bytes += frames[i].bytes
		}
		res.VideoMbitS = float64(bytes) * 8 / res.DurationS / 1e6
	}

	var tally readerTally
	for _, rr := range results {
		tally.add(rr, first, last)
	}
	res.ReaderFigures = tally.figures(cfg.Readers)
	return res
}

// windowFrames returns the counters of the first and last frames sent in
// [t0, t1]; last < first when there is none.
func windowFrames(frames []sentFrame, t0, t1 time.Time) (first, last int) {
	first = sort.Search(len(frames), func(i int) bool { return frames[i].sendNanos >= t0.UnixNano() })
	last = sort.Search(len(frames), func(i int) bool { return frames[i].sendNanos > t1.UnixNano() }) - 1
	return first, last
}

// deliveredRatio is the share of the frames first..last a reader received,
// counted from its own first frame on; 0 if it got none.
func deliveredRatio(rr *readerResult, first, last int) float64 {
	if last < first || rr.first < 0 {
		return 0
	}
	from := max(int(rr.first), first)
	expected := last - from + 1
	if expected <= 0 {
		return 0
	}
	return float64(rr.frames.countRange(uint64(from), uint64(last))) / float64(expected)
}

func durationMs(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
