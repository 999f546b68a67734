package loadtest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// Target is a server under test as the measurements see it.
type Target interface {
	// URL is the rtsp:// URL readers play for a stream name.
	URL(stream string) string
	// PID is the process whose CPU and RSS are sampled; 0 for none.
	PID() int
}

// Bounds of a first-frame measurement.
const (
	MaxTrials       = 500
	MaxTrialTimeout = 2 * time.Minute
)

// FirstFrameConfig describes a time-to-first-frame measurement: readers
// that each connect, PLAY and wait for their first complete keyframe.
type FirstFrameConfig struct {
	// Camera serves the stream; its path Path is the target's stream of
	// the same name.
	Camera *Camera
	Path   int
	Target Target
	// TargetName labels the report.
	TargetName string
	// Trials per mode and URL, 1..MaxTrials.
	Trials int
	// Query, if not empty, adds a URL "?Query" measured alongside the plain
	// one, trial for trial.
	Query string
	// Warm measures with a background reader keeping the stream running;
	// Cold with no reader for longer than the target's grace, so that its
	// camera session is closed before every trial.
	Warm, Cold bool
	// TrialTimeout bounds one trial; 3 GOPs + 10 s if 0.
	TrialTimeout time.Duration
	// ColdWait bounds the wait for the target to close its camera session;
	// 60 s if 0.
	ColdWait time.Duration
	Logger   *slog.Logger
}

// FirstFrameRow is one mode and URL.
type FirstFrameRow struct {
	Mode   string `json:"mode"` // warm or cold
	URL    string `json:"url"`
	Trials int    `json:"trials"`
	OK     int    `json:"ok"`
	// Errors counts failed trials; FirstError says why.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// PLAY sent to the last packet of the first complete keyframe.
	PlayP50Ms float64 `json:"play_to_keyframe_p50_ms"`
	PlayP90Ms float64 `json:"play_to_keyframe_p90_ms"`
	PlayMaxMs float64 `json:"play_to_keyframe_max_ms"`
	// TCP connect to the same packet (DESCRIBE is where a target connects
	// to a cold camera).
	ConnectP50Ms float64 `json:"connect_to_keyframe_p50_ms"`
	ConnectP90Ms float64 `json:"connect_to_keyframe_p90_ms"`
	// KeyframesBeforePlay counts the trials whose keyframe the camera sent
	// before PLAY was sent (a GOP cache served it); KeyframeAgeMaxMs is the
	// largest PLAY send time minus keyframe send time: negative when every
	// reader waited for a keyframe sent after its PLAY.
	KeyframesBeforePlay int     `json:"keyframes_sent_before_play"`
	KeyframeAgeMaxMs    float64 `json:"keyframe_age_max_ms"`
	// CameraCloseP50Ms (cold only) is the median time from a trial
	// reader's close to the target closing its camera session.
	CameraCloseP50Ms float64 `json:"camera_close_p50_ms,omitempty"`
}

// FirstFrameResult is a first-frame measurement.
type FirstFrameResult struct {
	Target     string          `json:"target"`
	GOPSeconds float64         `json:"gop_s"`
	Rows       []FirstFrameRow `json:"rows"`
}

type trialResult struct {
	connectToKey, playToKey time.Duration
	// keyAge is PLAY's send time minus the keyframe's send time.
	keyAge   time.Duration
	hasStamp bool
}

// rowAcc accumulates the trials of one row.
type rowAcc struct {
	row      FirstFrameRow
	trials   []trialResult
	closeDur []time.Duration
}

func (a *rowAcc) add(tr trialResult, err error) {
	a.row.Trials++
	if err != nil {
		a.row.Errors++
		if a.row.FirstError == "" {
			a.row.FirstError = err.Error()
		}
		return
	}
	a.row.OK++
	a.trials = append(a.trials, tr)
}

func (a *rowAcc) finish() FirstFrameRow {
	r := a.row
	pick := func(f func(trialResult) time.Duration) []time.Duration {
		var out []time.Duration
		for _, t := range a.trials {
			out = append(out, f(t))
		}
		return out
	}
	play := pick(func(t trialResult) time.Duration { return t.playToKey })
	conn := pick(func(t trialResult) time.Duration { return t.connectToKey })
	var age []time.Duration
	for _, t := range a.trials {
		if t.hasStamp {
			age = append(age, t.keyAge)
			if t.keyAge > 0 {
				r.KeyframesBeforePlay++
			}
		}
	}
	r.PlayP50Ms, r.PlayP90Ms, r.PlayMaxMs = durationMs(quantile(play, 0.5)), durationMs(quantile(play, 0.9)), durationMs(quantile(play, 1))
	r.ConnectP50Ms, r.ConnectP90Ms = durationMs(quantile(conn, 0.5)), durationMs(quantile(conn, 0.9))
	r.KeyframeAgeMaxMs = durationMs(quantile(age, 1))
	r.CameraCloseP50Ms = durationMs(quantile(a.closeDur, 0.5))
	return r
}

// quantile is the nearest-rank quantile of a few values; 0 for none.
func quantile(v []time.Duration, q float64) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// FirstFrame runs the trials: warm ones, then cold ones, the plain URL and
// the query URL alternating. Before each trial it waits a random time up to
// one GOP, so that PLAY lands at random phases of the camera's GOP.
func FirstFrame(ctx context.Context, cfg FirstFrameConfig) (*FirstFrameResult, error) {
	if cfg.Camera == nil || cfg.Target == nil {
		return nil, errors.New("first-frame: no camera or target")
	}
	if cfg.Trials < 1 || cfg.Trials > MaxTrials {
		return nil, fmt.Errorf("trials %d: want 1..%d", cfg.Trials, MaxTrials)
	}
	if !cfg.Warm && !cfg.Cold {
		return nil, errors.New("first-frame: neither warm nor cold")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	in := cfg.Camera.Input
	gop := time.Duration(in.GOP()) * time.Second / time.Duration(cfg.Camera.FPS)
	if cfg.TrialTimeout == 0 {
		cfg.TrialTimeout = 3*gop + 10*time.Second
	}
	cfg.TrialTimeout = min(cfg.TrialTimeout, MaxTrialTimeout)
	if cfg.ColdWait == 0 {
		cfg.ColdWait = time.Minute
	}
	name := cfg.Camera.PathName(cfg.Path)
	urls := []string{cfg.Target.URL(name)}
	if cfg.Query != "" {
		urls = append(urls, urls[0]+"?"+strings.TrimPrefix(cfg.Query, "?"))
	}
	res := &FirstFrameResult{Target: cfg.TargetName, GOPSeconds: gop.Seconds()}
	log := cfg.Logger.With("stream", name)

	if cfg.Warm {
		rows, err := cfg.warm(ctx, urls, gop, log)
		res.Rows = append(res.Rows, rows...)
		if err != nil {
			return res, err
		}
	}
	if cfg.Cold {
		rows, err := cfg.cold(ctx, urls, gop, log)
		res.Rows = append(res.Rows, rows...)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func newRows(mode string, urls []string) []*rowAcc {
	var accs []*rowAcc
	for _, u := range urls {
		accs = append(accs, &rowAcc{row: FirstFrameRow{Mode: mode, URL: u}})
	}
	return accs
}

func finishRows(accs []*rowAcc) []FirstFrameRow {
	var rows []FirstFrameRow
	for _, a := range accs {
		rows = append(rows, a.finish())
	}
	return rows
}

// warm keeps one reader playing the plain URL and runs the trials beside it.
func (cfg *FirstFrameConfig) warm(ctx context.Context, urls []string, gop time.Duration, log *slog.Logger) ([]FirstFrameRow, error) {
	accs := newRows("warm", urls)
	u, err := base.ParseURL(urls[0])
	if err != nil {
		return nil, err
	}
	bgCtx, bgCancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ready := make(chan error, 1)
	wg.Go(func() {
		runReader(bgCtx, &readerConfig{url: u, win: &window{}, keepalive: 20 * time.Second, handshakeTimeout: cfg.TrialTimeout},
			func(err error) { ready <- err })
	})
	defer func() {
		bgCancel()
		wg.Wait()
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, fmt.Errorf("background reader: %w", err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	log.Info("warm: background reader playing", "trials", cfg.Trials*len(urls))
	running := func(n int) bool { return n > 0 }
	for i := range cfg.Trials {
		for j, a := range accs {
			// Warm means the target's camera session is up.
			if err := cfg.waitSessions(ctx, running); err != nil {
				return finishRows(accs), fmt.Errorf("warm: the target has no camera session: %w", err)
			}
			if !sleepRandom(ctx, gop) {
				return finishRows(accs), ctx.Err()
			}
			tr, err := keyframeTrial(ctx, urls[j], cfg.TrialTimeout)
			a.add(tr, err)
			log.Debug("warm trial", "n", i, "url", urls[j], "play_to_keyframe", tr.playToKey, "err", err)
			if ctx.Err() != nil {
				return finishRows(accs), ctx.Err()
			}
		}
	}
	return finishRows(accs), nil
}

// cold waits, before every trial, for the target to close its camera
// session (the fake camera counts it), so each trial starts the source.
func (cfg *FirstFrameConfig) cold(ctx context.Context, urls []string, gop time.Duration, log *slog.Logger) ([]FirstFrameRow, error) {
	accs := newRows("cold", urls)
	idle := func(n int) bool { return n == 0 }
	log.Info("cold: waiting for the target to close its camera session before each trial", "trials", cfg.Trials*len(urls))
	for i := range cfg.Trials {
		for j, a := range accs {
			if err := cfg.waitSessions(ctx, idle); err != nil {
				return finishRows(accs), fmt.Errorf("cold: the target kept its camera session: %w", err)
			}
			if !sleepRandom(ctx, gop) {
				return finishRows(accs), ctx.Err()
			}
			tr, err := keyframeTrial(ctx, urls[j], cfg.TrialTimeout)
			closed := time.Now()
			a.add(tr, err)
			log.Debug("cold trial", "n", i, "url", urls[j], "play_to_keyframe", tr.playToKey, "err", err)
			if ctx.Err() != nil {
				return finishRows(accs), ctx.Err()
			}
			if err := cfg.waitSessions(ctx, idle); err != nil {
				return finishRows(accs), fmt.Errorf("cold: the target kept its camera session: %w", err)
			}
			a.closeDur = append(a.closeDur, time.Since(closed))
		}
	}
	return finishRows(accs), nil
}

// waitSessions waits, at most ColdWait, until the number of the target's
// sessions to the fake camera satisfies want.
func (cfg *FirstFrameConfig) waitSessions(ctx context.Context, want func(playing int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.ColdWait)
	defer cancel()
	return cfg.Camera.WaitPlaying(ctx, cfg.Path, want)
}

// sleepRandom waits a random time in [0, d); false if ctx ended.
func sleepRandom(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	return sleepOrDone(ctx, rand.N(d))
}

// timedConn remembers when its last Write began: after the handshake, that
// is when PLAY was sent.
type timedConn struct {
	net.Conn
	lastWrite time.Time
}

func (c *timedConn) Write(b []byte) (int, error) {
	c.lastWrite = time.Now()
	return c.Conn.Write(b)
}

// keyframeTrial connects a fresh reader, plays rawURL and waits for its
// first complete keyframe; the connection is closed when it returns.
func keyframeTrial(ctx context.Context, rawURL string, timeout time.Duration) (trialResult, error) {
	var tr trialResult
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return tr, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "554")
	}
	start := time.Now()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return tr, err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	tc := &timedConn{Conn: nc}
	r := &rawReader{
		cfg:  &readerConfig{url: u, win: &window{}, handshakeTimeout: timeout},
		conn: tc,
		br:   bufio.NewReaderSize(tc, readerBufferSize),
	}
	if _, err := r.handshake(); err != nil {
		return tr, ctxErr(ctx, err)
	}
	playSent := tc.lastWrite
	video := -1
	for ch := range r.chans {
		if r.chans[ch].kind == channelRTPVideo {
			video = ch
			break
		}
	}
	var det keyframeDetector
	var scratch []byte
	for {
		ch, pkt, err := readInterleaved(r.br, &scratch)
		if err != nil {
			return tr, ctxErr(ctx, err)
		}
		if int(ch) != video || !det.packet(pkt) {
			continue
		}
		now := time.Now()
		tr.connectToKey, tr.playToKey = now.Sub(start), now.Sub(playSent)
		if det.hasStamp {
			tr.keyAge, tr.hasStamp = playSent.Sub(time.Unix(0, det.stamp.SendNanos)), true
		}
		return tr, nil
	}
}

// ctxErr names a timeout as such rather than as the closed connection it
// causes.
func ctxErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete keyframe in time (%w)", err)
	}
	return err
}

// readInterleaved returns the next '$' frame's channel and payload (valid
// until the next call), skipping RTSP messages.
func readInterleaved(br *bufio.Reader, scratch *[]byte) (byte, []byte, error) {
	for {
		hdr, err := br.Peek(4)
		if err != nil {
			return 0, nil, err
		}
		if hdr[0] != '$' {
			if _, err := readRTSPMessage(br); err != nil {
				return 0, nil, err
			}
			continue
		}
		ch, n := hdr[1], int(binary.BigEndian.Uint16(hdr[2:]))
		br.Discard(4)
		if cap(*scratch) < n {
			*scratch = make([]byte, n)
		}
		buf := (*scratch)[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return 0, nil, err
		}
		return ch, buf, nil
	}
}
