// Command rtspgate is an RTSP gateway between IP cameras and what watches
// them. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/rtspgate/rtspgate/internal/app"
	"github.com/rtspgate/rtspgate/internal/config"
)

// defaultConfig is read when no -c is given and it exists.
const defaultConfig = "rtspgate.yaml"

const usage = `Usage: rtspgate [-c FILE]...

rtspgate serves IP cameras and published streams to RTSP readers at
rtsp://HOST:8554/NAME. Without -c it reads ./rtspgate.yaml if it exists,
else it serves a built-in demo stream. See README.md for the config.

Flags:
`

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// gcPercent is the collector's goal when GOGC is not set: the heap may grow
// to three times what is live instead of twice. Packet bytes live outside
// the Go heap, so what is live is small (about 5 MiB at 32 cameras) while
// the RTSP library allocates every packet it reads; at Go's default the
// collector then runs about twice a second at 32 cameras, each run with a
// fixed cost per goroutine. 200 halves the runs and their CPU for about
// 8 MiB more.
const gcPercent = 200

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtspgate:", err)
		os.Exit(1)
	}
}

// run runs rtspgate until SIGINT or SIGTERM. The usage asked for with -h
// goes to stdout, the log to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtspgate", flag.ContinueOnError)
	var files fileList
	fs.Var(&files, "c", "config `file` (YAML); repeat to merge several, later keys win")
	fs.Var(&files, "config", "same as -c `file`")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until stopped (for benchmarks)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.SetOutput(io.Discard) // usage and errors are printed below
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h, -help, --help
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		return fmt.Errorf("%w (rtspgate -h lists the flags)", err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Signals are ours from here on: a SIGTERM while rtspgate starts (a
	// service manager stopping a unit it just started) ends it cleanly
	// instead of killing it half-way: before the listeners start, it just
	// returns; after, it stops them. SIGHUP would end the process by
	// default; until reloading is built it is only logged, so a service
	// manager's reload does not stop streams.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	demo := false
	if len(files) == 0 {
		if _, err := os.Stat(defaultConfig); err == nil {
			files = append(files, defaultConfig)
		} else {
			demo = true
		}
	}
	cfg := config.Default()
	if len(files) > 0 {
		var err error
		if cfg, err = loadConfig(ctx, files); err != nil || ctx.Err() != nil {
			return err
		}
	}
	if demo {
		cfg = app.WithDemo(cfg)
	}
	log := newLogger(cfg.Log.Level, stderr)
	for _, f := range files {
		log.Info("config loaded", "path", f)
	}
	if len(cfg.Ignored) > 0 {
		log.Warn("config keys of go2rtc that rtspgate does not use yet: they have no effect", "keys", strings.Join(cfg.Ignored, ", "))
	}

	if ctx.Err() != nil {
		log.Info("stopped before starting: a signal came first")
		return nil
	}
	a, err := app.Start(cfg, app.Options{}, log)
	if err != nil {
		return err
	}
	if a.RTSP != nil {
		log.Info("RTSP server listening", "addr", a.RTSP.Addr().String())
		if demo {
			log.Info("no config given: serving the built-in demo stream; open it with: ffplay " + demoURL(a.RTSP.Addr()))
		}
	}
	if a.API != nil && demo {
		log.Info("its page: http://" + loopbackAddr(a.API.Addr(), "1984") + "/stream.html?src=" + app.DemoStream)
	}

	for done := false; !done; {
		select {
		case <-hup:
			log.Warn("SIGHUP: reloading the config is not supported yet; restart rtspgate to apply changes")
		case <-ctx.Done():
			done = true
		}
	}
	stop() // a second SIGINT or SIGTERM ends a shutdown that hangs
	log.Info("stopping")
	a.Close()
	log.Info("stopped")
	return nil
}

// loadConfig loads files, or gives up with nil and no error when ctx ends
// first: a config read that blocks (a FIFO, /dev/stdin, a stalled network
// mount) must not keep SIGTERM from ending rtspgate.
func loadConfig(ctx context.Context, files []string) (*config.Config, error) {
	type loaded struct {
		cfg *config.Config
		err error
	}
	done := make(chan loaded, 1)
	go func() {
		cfg, err := config.Load(files, os.LookupEnv)
		done <- loaded{cfg, err}
	}()
	select {
	case l := <-done:
		return l.cfg, l.err
	case <-ctx.Done():
		return nil, nil
	}
}

func demoURL(addr net.Addr) string {
	return "rtsp://" + loopbackAddr(addr, "8554") + "/" + app.DemoStream
}

// loopbackAddr is host:port of a listener as a local user opens it:
// 127.0.0.1 for a wildcard listen address.
func loopbackAddr(addr net.Addr, defPort string) string {
	host, port := "127.0.0.1", defPort
	if ta, ok := addr.(*net.TCPAddr); ok {
		if !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
		port = fmt.Sprint(ta.Port)
	}
	return net.JoinHostPort(host, port)
}

// levelTrace is below debug: per-packet detail.
const levelTrace = slog.Level(-8)

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	switch level {
	case "trace":
		l = levelTrace
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
