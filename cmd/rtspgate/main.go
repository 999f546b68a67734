// Command rtspgate is an RTSP gateway between IP cameras and what watches
// them. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/rtspgate/rtspgate/internal/app"
	"github.com/rtspgate/rtspgate/internal/config"
)

// defaultConfig is read when no -c is given and it exists (C1).
const defaultConfig = "rtspgate.yaml"

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rtspgate:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rtspgate", flag.ContinueOnError)
	var files fileList
	fs.Var(&files, "c", "config `file` (YAML); repeat to merge several, later keys win")
	fs.Var(&files, "config", "same as -c")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to `file` until stopped (for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return err
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
		if cfg, err = config.Load(files, os.LookupEnv); err != nil {
			return err
		}
	}
	if demo {
		cfg = app.WithDemo(cfg)
	}
	log := newLogger(cfg.Log.Level)
	if cfg.RTSP.PktSize != 0 {
		cfg.Ignored = append(cfg.Ignored, "rtsp.pkt_size")
	}
	if len(cfg.Ignored) > 0 {
		log.Info("config keys accepted but not used by rtspgate", "keys", strings.Join(cfg.Ignored, ", "))
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

	// SIGHUP would end the process by default; until reloading is built it
	// is only logged, so a service manager's reload does not stop streams.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for done := false; !done; {
		select {
		case <-hup:
			log.Warn("SIGHUP: reloading the config is not supported yet; restart rtspgate to apply changes")
		case <-ctx.Done():
			done = true
		}
	}
	log.Info("stopping")
	a.Close()
	log.Info("stopped")
	return nil
}

func demoURL(addr net.Addr) string {
	host := "127.0.0.1"
	port := "8554"
	if ta, ok := addr.(*net.TCPAddr); ok {
		if !ta.IP.IsUnspecified() {
			host = ta.IP.String()
		}
		port = fmt.Sprint(ta.Port)
	}
	return "rtsp://" + net.JoinHostPort(host, port) + "/" + app.DemoStream
}

// levelTrace is below debug: per-packet detail.
const levelTrace = slog.Level(-8)

func newLogger(level string) *slog.Logger {
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
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
