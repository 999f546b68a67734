// Package app wires rtspgate together from a config: the stream registry,
// the source kinds it knows, and the servers. main and the end-to-end tests
// both start rtspgate through it.
package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rtspgate/rtspgate/internal/api"
	"github.com/rtspgate/rtspgate/internal/config"
	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/rtspserver"
	"github.com/rtspgate/rtspgate/internal/source/demo"
	ffmpegsrc "github.com/rtspgate/rtspgate/internal/source/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/source/rtsp"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/talk"
)

// DemoStream is the stream served when no config is given.
const DemoStream = "demo"

// Options are settings that are not in the config file.
type Options struct {
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
	// rtspAddr is the RTSP server's loopback host:port for our own
	// children, set once it listens; sources read it from their goroutines
	rtspAddr atomic.Pointer[string]
}

// openers are the source kinds by scheme; each Start makes its own (the
// rtsp kind shares camera sessions among the sources it opened). The
// ffmpeg kind reaches the registry and the RTSP server through a, which
// has them once Start has made them.
func (a *App) openers(runner *ffmpeg.Runner) map[string]stream.Opener {
	rk := rtsp.NewKind(a.log.With("module", "rtsp-source"))
	fk := ffmpegsrc.NewKind(ffmpegsrc.Config{
		Runner:       runner,
		Private:      func(pub stream.Publisher) (string, func()) { return a.Registry.Private(pub) },
		RTSPAddr:     a.rtspLoopback,
		StreamExists: func(name string) bool { return a.Registry.Get(name) != nil },
		Log:          a.log.With("module", "ffmpeg-source"),
	})
	return map[string]stream.Opener{
		"rtsp":   rk.Open,
		"rtsps":  rk.Open,
		"rtspx":  rk.Open,
		"ffmpeg": fk.Open,
		"demo":   demo.Open,
	}
}

// rtspLoopback is host:port of the RTSP server as our own children reach
// it, "" without one.
func (a *App) rtspLoopback() string {
	if p := a.rtspAddr.Load(); p != nil {
		return *p
	}
	return ""
}

// WithDemo returns cfg with the demo stream added.
func WithDemo(cfg *config.Config) *config.Config {
	c := *cfg
	c.Streams = append([]config.Stream{{Name: DemoStream, Sources: []config.Source{{Raw: "demo:", URL: "demo:", Scheme: "demo"}}}}, cfg.Streams...)
	return &c
}

// Start builds the streams of cfg and starts the servers.
func Start(cfg *config.Config, opts Options, log *slog.Logger) (*App, error) {
	a := &App{log: log}
	runner := &ffmpeg.Runner{Bin: cfg.FFmpeg.Bin, Templates: ffmpeg.Templates(cfg.FFmpeg.Templates), Log: log.With("module", "ffmpeg")}
	so := opts.StreamOptions
	so.Logger = log
	so.Frame = rtspserver.Frame
	so.NoGOPCache = so.NoGOPCache || cfg.RTSP.NoGOPCache
	if so.PktSize == 0 {
		so.PktSize = cfg.RTSP.PktSize
	}
	so.Openers = a.openers(runner)
	reg := stream.NewRegistry(so)
	a.Registry = reg
	for _, sc := range cfg.Streams {
		var srcs []stream.Source
		var names []string
		for _, cs := range sc.Sources {
			src, err := openSource(sc.Name, cs, so.Openers)
			if err != nil {
				reg.Close()
				return nil, err
			}
			srcs = append(srcs, src)
			names = append(names, cs.Redacted())
		}
		if _, err := reg.AddOpened(sc.Name, srcs, names); err != nil {
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
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(a.rtspPort()))
		a.rtspAddr.Store(&addr)
		warnOpenRTSP(cfg, log)
	}
	a.talks = talk.New(runner, log.With("module", "talk"))
	if cfg.API.Listen != "" {
		srv := api.New(api.Config{
			Listen:   cfg.API.Listen,
			Username: cfg.API.Username,
			Password: cfg.API.Password,
			RTSPPort: a.rtspPort(),
			Log:      log.With("module", "api"),
			Backend:  &backend{reg: reg, talks: a.talks, rtsp: a.RTSP},
		})
		if err := srv.Start(); err != nil {
			a.Close()
			return nil, fmt.Errorf("api.listen %q: %w", cfg.API.Listen, err)
		}
		a.API = srv
	}
	return a, nil
}

// openSource opens a configured source with its source kind, which checks
// it, once: an unknown scheme or a bad '#' option stops start-up with the
// file, line and key of the source, as config errors do.
func openSource(name string, cs config.Source, openers map[string]stream.Opener) (stream.Source, error) {
	bad := func(msg string) error {
		return &config.Error{File: cs.File, Line: cs.Line, Key: "streams." + name, Msg: msg}
	}
	open, ok := openers[cs.Scheme]
	if !ok || cs.Scheme == "demo" && name != DemoStream {
		var kinds []string
		for k := range openers {
			if k != "demo" {
				kinds = append(kinds, k)
			}
		}
		sort.Strings(kinds)
		return nil, bad(fmt.Sprintf("unsupported scheme %q; accepted: %s", cs.Scheme, strings.Join(kinds, ", ")))
	}
	spec := stream.SourceSpec{Stream: name, URL: cs.URL, Scheme: cs.Scheme, Options: cs.Options, Redacted: cs.Redacted()}
	for _, o := range cs.List {
		spec.List = append(spec.List, stream.Option{Key: o.Key, Value: o.Value})
	}
	src, err := open(spec)
	if err != nil {
		return nil, bad(err.Error())
	}
	return src, nil
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
		Listen:         cfg.RTSP.Listen,
		Username:       cfg.RTSP.Username,
		Password:       cfg.RTSP.Password,
		DefaultQuery:   cfg.RTSP.DefaultQuery,
		WriteTimeout:   opts.WriteTimeout,
		UDPRTPAddress:  onListenHost(cfg.RTSP.RTPAddress, cfg.RTSP.Listen),
		UDPRTCPAddress: onListenHost(cfg.RTSP.RTCPAddress, cfg.RTSP.Listen),
	}
	srv := rtspserver.New(rc, reg, log)
	err := srv.Start()
	if err != nil && rc.UDPRTPAddress != "" && isUDPBindError(err) {
		// readers over TCP matter most; do not refuse to start for UDP
		log.Warn("RTSP over UDP is off: its ports are taken (another rtspgate, go2rtc or mediamtx on this host?); "+
			"UDP readers will be refused, TCP readers play. Set rtsp.rtp_address and rtsp.rtcp_address to free ports "+
			"(an even port and the next, e.g. rtp_address: \":8002\" and rtcp_address: \":8003\"), or both \"\" to turn UDP off",
			"rtp_address", rc.UDPRTPAddress, "rtcp_address", rc.UDPRTCPAddress, "err", err)
		rc.UDPRTPAddress, rc.UDPRTCPAddress = "", ""
		srv = rtspserver.New(rc, reg, log)
		err = srv.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("rtsp.listen %q: %w", cfg.RTSP.Listen, err)
	}
	return srv, nil
}

// onListenHost gives addr (host:port, or "") the host of listen when it has
// none: UDP readers reach the host they reached RTSP on.
func onListenHost(addr, listen string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "" {
		return addr
	}
	lhost, _, _ := net.SplitHostPort(listen)
	return net.JoinHostPort(lhost, port)
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
