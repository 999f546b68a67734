package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rtspgate/rtspgate/internal/loadtest"
)

// targetFlags choose the targets a command starts, in turn.
type targetFlags struct {
	kinds, bins, logFile string
	env                  envList
}

type envList []string

func (e *envList) String() string     { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

func (f *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kinds, "target", loadtest.TargetRTSPGate, "comma-separated targets measured in turn: rtspgate, go2rtc")
	fs.StringVar(&f.bins, "target-bin", "", "comma-separated programs, one per -target")
	fs.StringVar(&f.logFile, "target-log", "", "file receiving the targets' output (default: discarded)")
	fs.Var(&f.env, "target-env", "NAME=VALUE added to the targets' environment (repeatable), e.g. GODEBUG=gctrace=1")
}

type targetSpec struct{ kind, bin string }

func (f *targetFlags) specs() ([]targetSpec, error) {
	kinds, bins := strings.Split(f.kinds, ","), strings.Split(f.bins, ",")
	if f.bins == "" || len(kinds) != len(bins) {
		return nil, fmt.Errorf("-target %q needs one -target-bin each (got %q)", f.kinds, f.bins)
	}
	var out []targetSpec
	for i, k := range kinds {
		k = strings.TrimSpace(k)
		if k != loadtest.TargetRTSPGate && k != loadtest.TargetGo2RTC {
			return nil, fmt.Errorf("-target %q: want %s or %s", k, loadtest.TargetRTSPGate, loadtest.TargetGo2RTC)
		}
		out = append(out, targetSpec{k, strings.TrimSpace(bins[i])})
	}
	return out, nil
}

func (f *targetFlags) logWriter() (io.Writer, func(), error) {
	if f.logFile == "" {
		return nil, func() {}, nil
	}
	file, err := os.Create(f.logFile)
	if err != nil {
		return nil, nil, err
	}
	return file, func() { file.Close() }, nil
}

// startTarget starts one target with the camera's paths as its streams.
func startTarget(ctx context.Context, spec targetSpec, cam *loadtest.Camera, logw io.Writer, env []string, log *slog.Logger) (*loadtest.ProcessTarget, error) {
	var streams []loadtest.TargetStream
	for i := range cam.Paths {
		streams = append(streams, loadtest.TargetStream{Name: cam.PathName(i), URL: cam.URL(i)})
	}
	tgt, err := loadtest.StartTarget(ctx, loadtest.ProcessTargetConfig{
		Kind: spec.kind, Bin: spec.bin, Streams: streams, Log: logw, Env: env,
	})
	if err != nil {
		return nil, err
	}
	log.Info("target started", "target", spec.kind, "bin", spec.bin, "pid", tgt.PID(), "config", tgt.ConfigPath())
	return tgt, nil
}

// cameraFlags are the fake camera's flags.
type cameraFlags struct {
	listen string
	fps    int
	audio  bool
}

func (f *cameraFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "camera-listen", "127.0.0.1:0", "address of the fake cameras' RTSP server")
	fs.IntVar(&f.fps, "fps", 30, "frame rate of the fake cameras")
	fs.BoolVar(&f.audio, "audio", false, "add a PCMA track to every camera (50 packets/s of 160 bytes)")
}

func (f *cameraFlags) start(paths int, in *loadtest.Input, log *slog.Logger) (*loadtest.Camera, error) {
	cam := &loadtest.Camera{Listen: f.listen, Paths: paths, Input: in, FPS: f.fps, Audio: f.audio, Logger: log}
	if err := cam.Start(); err != nil {
		return nil, err
	}
	log.Info("fake cameras serving", "addr", cam.Addr(), "paths", paths)
	return cam, nil
}

// rig is what cameras and first-frame set up alike: the targets to measure
// in turn, fake cameras serving the input, and where the targets' output
// goes.
type rig struct {
	specs []targetSpec
	cam   *loadtest.Camera
	logw  io.Writer
	env   []string
	log   *slog.Logger
	close func()
}

// rigFlags are the flags of a command that uses a rig: the targets, the
// fake cameras and their input (720p at 2 Mbit/s unless told).
type rigFlags struct {
	target targetFlags
	camera cameraFlags
	input  inputFlags
}

func (f *rigFlags) register(fs *flag.FlagSet) {
	f.target.register(fs)
	f.camera.register(fs)
	f.input.register(fs, "720p", "2M")
}

func newRig(ctx context.Context, f *rigFlags, paths int, verbose bool) (*rig, error) {
	specs, err := f.target.specs()
	if err != nil {
		return nil, err
	}
	log := newLogger(verbose)
	input, err := f.input.load(ctx, log)
	if err != nil {
		return nil, err
	}
	logw, closeLog, err := f.target.logWriter()
	if err != nil {
		return nil, err
	}
	cam, err := f.camera.start(paths, input, log)
	if err != nil {
		closeLog()
		return nil, err
	}
	return &rig{specs: specs, cam: cam, logw: logw, env: f.target.env, log: log, close: func() { cam.Close(); closeLog() }}, nil
}

// measure starts the target of spec on the rig's cameras, runs fn against
// it and stops it.
func (r *rig) measure(ctx context.Context, spec targetSpec, fn func(*loadtest.ProcessTarget) error) error {
	tgt, err := startTarget(ctx, spec, r.cam, r.logw, r.env, r.log)
	if err != nil {
		return err
	}
	defer tgt.Stop()
	return fn(tgt)
}

func cmdCameras(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cameras", flag.ContinueOnError)
	cameras := fs.Int("cameras", 32, fmt.Sprintf("fake cameras (paths cam0 …), 1..%d", loadtest.MaxCameraPaths))
	perCamera := fs.Int("readers-per-camera", 3, "TCP readers of each camera through the target")
	duration := fs.Duration("duration", 20*time.Second, fmt.Sprintf("measured window (1s..%v)", loadtest.MaxDuration))
	warmup := fs.Duration("warmup", 3*time.Second, "time between all readers playing and the window")
	pause := fs.Duration("pause", 2*time.Second, "pause between targets")
	verbose := fs.Bool("v", false, "debug logging")
	var rf rigFlags
	rf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r, err := newRig(ctx, &rf, *cameras, *verbose)
	if err != nil {
		return err
	}
	defer r.close()

	var rows []*loadtest.CamerasResult
	for i, spec := range r.specs {
		if i > 0 {
			time.Sleep(*pause)
		}
		var res *loadtest.CamerasResult
		err := r.measure(ctx, spec, func(tgt *loadtest.ProcessTarget) (err error) {
			res, err = loadtest.Cameras(ctx, loadtest.CamerasConfig{
				Camera: r.cam, Target: tgt, TargetName: spec.kind, ReadersPerCamera: *perCamera,
				Duration: *duration, Warmup: *warmup, Logger: r.log,
			})
			return err
		})
		if res != nil {
			fmt.Print(res.Text())
			fmt.Println(res.JSON())
			fmt.Println()
			rows = append(rows, res)
		}
		if err != nil {
			if len(rows) > 0 {
				fmt.Print(loadtest.CamerasTable(rows))
			}
			return fmt.Errorf("%s: %w", spec.kind, err)
		}
	}
	fmt.Print(loadtest.CamerasTable(rows))
	return nil
}

func cmdFirstFrame(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("first-frame", flag.ContinueOnError)
	trials := fs.Int("trials", 20, fmt.Sprintf("trials per mode and URL, 1..%d", loadtest.MaxTrials))
	query := fs.String("query-off", "", `query also measured, trial for trial with the plain URL, e.g. "gop=0"`)
	modes := fs.String("modes", "warm,cold", "warm (a background reader keeps the stream running), cold (the target's camera session is closed before each trial), or both")
	trialTimeout := fs.Duration("trial-timeout", 0, "bound of one trial (default 3 GOPs + 10 s)")
	coldWait := fs.Duration("cold-wait", time.Minute, "bound of the wait for the target to close its camera session")
	pause := fs.Duration("pause", 2*time.Second, "pause between targets")
	verbose := fs.Bool("v", false, "debug logging (one line per trial)")
	var rf rigFlags
	rf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var warm, cold bool
	for m := range strings.SplitSeq(*modes, ",") {
		switch strings.TrimSpace(m) {
		case "warm":
			warm = true
		case "cold":
			cold = true
		default:
			return fmt.Errorf("-modes: %q is neither warm nor cold", m)
		}
	}
	r, err := newRig(ctx, &rf, 1, *verbose)
	if err != nil {
		return err
	}
	defer r.close()

	var errs []error
	for i, spec := range r.specs {
		if i > 0 {
			time.Sleep(*pause)
		}
		var res *loadtest.FirstFrameResult
		err := r.measure(ctx, spec, func(tgt *loadtest.ProcessTarget) (err error) {
			res, err = loadtest.FirstFrame(ctx, loadtest.FirstFrameConfig{
				Camera: r.cam, Target: tgt, TargetName: spec.kind, Trials: *trials, Query: *query,
				Warm: warm, Cold: cold, TrialTimeout: *trialTimeout, ColdWait: *coldWait, Logger: r.log,
			})
			return err
		})
		if res != nil {
			fmt.Print(res.Text())
			fmt.Println(res.JSON())
			fmt.Println()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", spec.kind, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}
