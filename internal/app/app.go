// Package app wires rtspgate together from a config: the stream registry,
// the source kinds it knows, and the servers. main and the end-to-end tests
// both start rtspgate through it.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rtspgate/rtspgate/internal/api"
	"github.com/rtspgate/rtspgate/internal/config"
	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/rtspserver"
	"github.com/rtspgate/rtspgate/internal/source/demo"
	"github.com/rtspgate/rtspgate/internal/source/rtsp"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/talk"
)

// DemoStream is the stream served when no config is given (D1).
const DemoStream = "demo"

// Options are settings that are not in the config file.
type Options struct {
	// UDPRTPAddress and UDPRTCPAddress are where UDP readers' RTP/RTCP go
	// from; empty: ports 8000 and 8001 on the RTSP listen host. "-" disables
	// UDP readers.
	UDPRTPAddress, UDPRTCPAddress string
	// StreamOptions tune the core (tests shorten grace times).
	StreamOptions stream.Options
	// WriteTimeout drops a reader whose socket takes nothing for this long
	// (default 10 s).
	WriteTimeout time.Duration
}

// App is a running rtspgate.
type App struct {
	Registry *stream.Registry
	RTSP     *rtspserver.Server
	API      *api.Server // nil when api.listen is ""
	talks    *talk.Manager
	log      *slog.Logger
}

// Openers are the source kinds by scheme. Each call makes new kinds: the
// rtsp kind shares camera sessions among the sources it opened.
func Openers(log *slog.Logger) map[string]stream.Opener {
	rk := rtsp.NewKind(log.With("module", "rtsp-source"))
	return map[string]stream.Opener{
		"rtsp":  rk.Open,
		"rtsps": rk.Open,
		"rtspx": rk.Open,
		"demo":  demo.Open,
	}
}

// WithDemo returns cfg with the demo stream added.
func WithDemo(cfg *config.Config) *config.Config {
	c := *cfg
	c.Streams = append([]config.Stream{{Name: DemoStream, Sources: []config.Source{{Raw: "demo:", URL: "demo:", Scheme: "demo"}}}}, cfg.Streams...)
	return &c
}

// Start builds the streams of cfg and starts the servers.
func Start(cfg *config.Config, opts Options, log *slog.Logger) (*App, error) {
	so := opts.StreamOptions
	so.Logger = log
	so.Openers = Openers(log)
	reg := stream.NewRegistry(so)
	a := &App{Registry: reg, log: log}
	for _, sc := range cfg.Streams {
		var specs []stream.SourceSpec
		for _, src := range sc.Sources {
			red := src.Redacted()
			open, ok := so.Openers[src.Scheme]
			if !ok {
				log.Warn("source skipped: this kind of source is not supported yet", "stream", sc.Name, "source", red)
				continue
			}
			spec := stream.SourceSpec{URL: src.URL, Scheme: src.Scheme, Options: src.Options, Redacted: red}
			// the config was checked already; what a source still refuses
			// is a feature not built yet (e.g. #transport=ws://)
			if _, err := open(spec); err != nil {
				log.Warn("source skipped", "stream", sc.Name, "source", red, "why", err)
				continue
			}
			specs = append(specs, spec)
		}
		if _, err := reg.Add(sc.Name, specs); err != nil {
			reg.Close()
			return nil, err
		}
	}
	if cfg.RTSP.Listen != "" {
		srv, err := startRTSP(cfg, opts, reg, log)
		if err != nil {
			reg.Close()
			return nil, err
		}
		a.RTSP = srv
		warnOpenRTSP(cfg, log)
	}
	runner := &ffmpeg.Runner{Bin: cfg.FFmpeg.Bin, Templates: ffmpeg.Templates(cfg.FFmpeg.Templates), Log: log.With("module", "ffmpeg")}
	a.talks = talk.New(runner, log.With("module", "talk"))
	if cfg.API.Listen != "" {
		srv := api.New(api.Config{
			Listen:   cfg.API.Listen,
			Username: cfg.API.Username,
			Password: cfg.API.Password,
			RTSPPort: a.rtspPort(),
			Log:      log.With("module", "api"),
			Backend:  &backend{reg: reg, talks: a.talks},
		})
		if err := srv.Start(); err != nil {
			a.Close()
			return nil, fmt.Errorf("api.listen %q: %w", cfg.API.Listen, err)
		}
		a.API = srv
	}
	return a, nil
}

// rtspPort is the RTSP server's port, or 0 without one.
func (a *App) rtspPort() int {
	if a.RTSP == nil {
		return 0
	}
	if ta, ok := a.RTSP.Addr().(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}

// warnOpenRTSP warns when the RTSP server takes readers and publishers from
// other machines without credentials.
func warnOpenRTSP(cfg *config.Config, log *slog.Logger) {
	if cfg.RTSP.Username != "" || !config.BeyondLoopback(cfg.RTSP.Listen) {
		return
	}
	log.Warn("RTSP server without credentials: anyone on the network can read every stream and publish new ones; "+
		"set rtsp.username and rtsp.password, or listen on loopback only (rtsp.listen: 127.0.0.1:8554)", "listen", cfg.RTSP.Listen)
}

func startRTSP(cfg *config.Config, opts Options, reg *stream.Registry, log *slog.Logger) (*rtspserver.Server, error) {
	rc := rtspserver.Config{
		Listen:       cfg.RTSP.Listen,
		Username:     cfg.RTSP.Username,
		Password:     cfg.RTSP.Password,
		DefaultQuery: cfg.RTSP.DefaultQuery,
		WriteTimeout: opts.WriteTimeout,
	}
	udp := opts.UDPRTPAddress != "-"
	if udp {
		rc.UDPRTPAddress, rc.UDPRTCPAddress = opts.UDPRTPAddress, opts.UDPRTCPAddress
		if rc.UDPRTPAddress == "" {
			host, _, _ := net.SplitHostPort(cfg.RTSP.Listen)
			rc.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(8000))
			rc.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(8001))
		}
	}
	srv := rtspserver.New(rc, reg, log)
	err := srv.Start()
	if err != nil && udp && isUDPBindError(err) {
		// readers over TCP matter most; do not refuse to start for UDP
		log.Warn("RTSP over UDP disabled: cannot use its ports", "rtp", rc.UDPRTPAddress, "rtcp", rc.UDPRTCPAddress, "err", err)
		rc.UDPRTPAddress, rc.UDPRTCPAddress = "", ""
		srv = rtspserver.New(rc, reg, log)
		err = srv.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("rtsp.listen %q: %w", cfg.RTSP.Listen, err)
	}
	return srv, nil
}

func isUDPBindError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.HasPrefix(op.Net, "udp")
}

// Close stops the servers, then what plays into backchannels, then every
// stream and source.
func (a *App) Close() {
	if a.API != nil {
		a.API.Close()
	}
	if a.RTSP != nil {
		a.RTSP.Close()
	}
	if a.talks != nil {
		a.talks.Close()
	}
	a.Registry.Close()
}
