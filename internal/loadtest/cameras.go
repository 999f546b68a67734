package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// CamerasConfig describes a many-cameras measurement: every path of Camera
// is a stream of Target (same name), pulled by the target over RTSP, and
// ReadersPerCamera light TCP readers play each of them from the target.
type CamerasConfig struct {
	Camera *Camera
	Target Target
	// TargetName labels the report (rtspgate, go2rtc, …).
	TargetName string
	// ReadersPerCamera is K; Camera.Paths × K is at most MaxReaders.
	ReadersPerCamera int
	// Duration, Warmup, Grace, ConnectParallel and KeepAlive are as in
	// RunConfig.
	Duration, Warmup, Grace time.Duration
	ConnectParallel         int
	KeepAlive               time.Duration
	Logger                  *slog.Logger
}

// CamerasResult is what a many-cameras run measured. Delivery is per
// reader, against the frames its own camera sent in the window from the
// reader's first frame on; latency is from the camera's send time (in the
// SEI) to the reader's receipt of the frame's last packet, so it spans
// camera → target → reader.
type CamerasResult struct {
	Target           string `json:"target"`
	Cameras          int    `json:"cameras"`
	ReadersPerCamera int    `json:"readers_per_camera"`
	Readers          int    `json:"readers"`
	ReaderFigures
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	// FramesSent is the sum over cameras of the frames sent in the window;
	// VideoMbitS the mean per camera.
	FramesSent int     `json:"frames_sent"`
	VideoMbitS float64 `json:"video_mbit_s_per_camera"`
	// CameraSessions is the number of the target's sessions playing the
	// fake cameras at the end of the window (one per camera when it pulls
	// each camera once); CameraSessionsTotal counts all that ever played.
	CameraSessions      int `json:"camera_sessions"`
	CameraSessionsTotal int `json:"camera_sessions_total"`
	// EveryFrame tells whether every reader got every frame.
	EveryFrame   bool    `json:"every_reader_every_frame"`
	ServerPID    int     `json:"server_pid,omitempty"`
	ServerCPU    float64 `json:"server_cpu_cores,omitempty"`
	ServerRSSMiB float64 `json:"server_rss_mib,omitempty"`
	ToolCPU      float64 `json:"tool_cpu_cores"`
}

func (cfg *CamerasConfig) setDefaults() error {
	if cfg.Camera == nil || cfg.Target == nil {
		return errors.New("cameras: no camera or target")
	}
	n := cfg.Camera.Paths * cfg.ReadersPerCamera
	switch {
	case cfg.ReadersPerCamera < 1 || n > MaxReaders:
		return fmt.Errorf("%d cameras × %d readers: want 1..%d readers in all", cfg.Camera.Paths, cfg.ReadersPerCamera, MaxReaders)
	case cfg.Duration < time.Second || cfg.Duration > MaxDuration:
		return fmt.Errorf("duration %v: want 1s..%v", cfg.Duration, MaxDuration)
	case cfg.Warmup < 0 || cfg.Warmup > MaxWarmup:
		return fmt.Errorf("warmup %v: want 0..%v", cfg.Warmup, MaxWarmup)
	}
	if cfg.Grace == 0 {
		cfg.Grace = time.Second
	}
	if cfg.ConnectParallel == 0 {
		cfg.ConnectParallel = 32
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return nil
}

// Cameras connects all readers, warms up, measures the window and reports.
// When ctx ends early the window is cut short and what was measured is
// returned with ctx's error.
func Cameras(ctx context.Context, cfg CamerasConfig) (*CamerasResult, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	pid := cfg.Target.PID()
	if pid != 0 {
		if _, err := ProcCPU(pid); err != nil {
			return nil, fmt.Errorf("target pid %d: %w", pid, err)
		}
	}
	cams, k := cfg.Camera.Paths, cfg.ReadersPerCamera
	log := cfg.Logger.With("target", cfg.TargetName)

	readersCtx, readersCancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() {
		readersCancel()
		wg.Wait()
	}()
	win := &window{}
	results := make([][]*readerResult, cams)
	ready := make(chan error, cams*k)
	sem := make(chan struct{}, cfg.ConnectParallel)
	// Readers connect camera by camera, round robin, so that every camera
	// gets its first reader early.
	for j := range k {
		for i := range cams {
			if j == 0 {
				results[i] = make([]*readerResult, k)
			}
			u, err := base.ParseURL(cfg.Target.URL(cfg.Camera.PathName(i)))
			if err != nil {
				return nil, err
			}
			rcfg := &readerConfig{url: u, win: win, keepalive: cfg.KeepAlive, handshakeTimeout: 20 * time.Second}
			wg.Go(func() {
				sem <- struct{}{}
				results[i][j] = runReader(readersCtx, rcfg, func(err error) {
					<-sem
					ready <- err
				})
			})
		}
	}
	log.Info("readers connecting", "cameras", cams, "readers_per_camera", k)

	interrupted := false
	connected := 0
	for range cams * k {
		select {
		case err := <-ready:
			if err == nil {
				connected++
			}
		case <-ctx.Done():
			interrupted = true
		}
		if interrupted {
			break
		}
	}
	log.Info("readers playing; warming up", "connected", connected, "of", cams*k, "warmup", cfg.Warmup)
	if !interrupted {
		interrupted = !sleepOrDone(ctx, cfg.Warmup)
	}

	t0 := time.Now()
	win.startNanos.Store(t0.UnixNano())
	cpu0, _ := procCPUIf(pid)
	self0 := SelfCPU()
	if !interrupted {
		log.Info("measuring", "duration", cfg.Duration)
		interrupted = !sleepOrDone(ctx, cfg.Duration)
	}
	t1 := time.Now()
	cpu1, cpuErr := procCPUIf(pid)
	self1 := SelfCPU()
	var rss int64
	var rssErr error
	if pid != 0 {
		rss, rssErr = ProcRSS(pid)
	}
	res := &CamerasResult{
		Target: cfg.TargetName, Cameras: cams, ReadersPerCamera: k, Readers: cams * k,
		DurationS: t1.Sub(t0).Seconds(), WarmupS: cfg.Warmup.Seconds(),
	}
	for i := range cams {
		now, total := cfg.Camera.Playing(i)
		res.CameraSessions += now
		res.CameraSessionsTotal += total
	}
	// Frames in flight at t1 arrive within the grace; the cameras go on.
	if !interrupted {
		sleepOrDone(ctx, cfg.Grace)
	}
	readersCancel()
	wg.Wait()

	cfg.summarize(res, results, t0, t1)
	elapsed := t1.Sub(t0).Seconds()
	res.ToolCPU = (self1 - self0).Seconds() / elapsed
	if pid != 0 {
		if cpuErr != nil || rssErr != nil {
			return res, fmt.Errorf("target pid %d: %w", pid, errors.Join(cpuErr, rssErr))
		}
		res.ServerPID = pid
		res.ServerCPU = (cpu1 - cpu0).Seconds() / elapsed
		res.ServerRSSMiB = float64(rss) / (1 << 20)
	}
	if interrupted {
		return res, ctx.Err()
	}
	return res, nil
}

func (cfg *CamerasConfig) summarize(res *CamerasResult, results [][]*readerResult, t0, t1 time.Time) {
	var tally readerTally
	bytes := 0
	for i, readers := range results {
		frames := cfg.Camera.sent(i)
		first, last := windowFrames(frames, t0, t1)
		if last >= first {
			res.FramesSent += last - first + 1
			for _, f := range frames[first : last+1] {
				bytes += f.bytes
			}
		}
		for _, rr := range readers {
			tally.add(rr, first, last)
		}
	}
	res.ReaderFigures = tally.figures(res.Readers)
	res.EveryFrame = res.DeliveredMinPct == 100 && res.ReadersConnected == res.Readers
	if res.DurationS > 0 && res.Cameras > 0 {
		res.VideoMbitS = float64(bytes) * 8 / res.DurationS / 1e6 / float64(res.Cameras)
	}
}

// sleepOrDone waits d; false if ctx ended first.
func sleepOrDone(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
