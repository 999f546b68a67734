// Package api is rtspgate's HTTP API and its web pages, on one listener
// (api.listen, default ":1984"). Its answers follow go2rtc's HTTP API where
// both have the same endpoint, so tools written for go2rtc (Frigate, Home
// Assistant, scripts) keep working; README.md in this folder lists the
// endpoints and every difference.
//
// The package knows nothing of streams: it asks a Backend, which the app
// implements on top of the stream registry.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Backend is what the API needs from the rest of rtspgate.
type Backend interface {
	// List describes every stream without connecting anything.
	List(ctx context.Context) ([]*StreamInfo, error)
	// Probe connects the stream's sources if needed (bounded by ctx) and
	// describes it. Unknown name: an error wrapping ErrNotFound. A source
	// that cannot connect is reported in its Producer (State, LastError),
	// not as an error: the page shows why.
	Probe(ctx context.Context, name string) (*StreamInfo, error)
	// Talk plays src (e.g. "ffmpeg:/path/song.mp3#audio=pcma#input=file")
	// into the backchannel of stream name; src "" stops what plays. It
	// returns when playback started (or failed), not when it ends. src is
	// the client's, unchecked: refuse (ErrBadSource) any source not safe
	// to run, such as one that runs a command. Errors wrap ErrNotFound,
	// ErrNoBackchannel or ErrBadSource where they apply.
	Talk(ctx context.Context, name, src string) error
}

// Errors a Backend wraps so that the API answers the right status.
var (
	ErrNotFound      = errors.New("no such stream")                                 // 404
	ErrNoBackchannel = errors.New("the stream has no backchannel")                  // 409
	ErrBadSource     = errors.New("the source cannot be played into a backchannel") // 400
)

// StreamInfo describes one stream.
type StreamInfo struct {
	Name      string
	Producers []Producer
	Consumers []Consumer
	// What came in from the producers, and what was dropped on the way,
	// by reason ("too big", "reader too slow", "reader stuck", …).
	BytesIn, PacketsIn uint64
	Drops              map[string]uint64
}

// Producer is one source of a stream.
type Producer struct {
	URL       string    // credentials already masked by the backend
	State     string    // e.g. "idle", "connecting", "online", "failed"
	LastError string    // why it last failed, in words; "" if it did not
	Since     time.Time // when State was entered
	// Health: reconnects since start, RTP packets lost (sequence
	// gaps) and interarrival jitter of its tracks, camera quirks met.
	Reconnects int
	Lost       uint64
	JitterMS   float64
	Quirks     []string
	Medias     []Media
	// Backchannel is "" or why the backchannel is unavailable, e.g.
	// "camera refused the talk SETUP" or "#backchannel=0 in the config".
	Backchannel string
}

// Media is one media of a producer.
type Media struct {
	Kind      string // "video" or "audio"
	Direction string // "recvonly": we receive; "sendonly": we may send (the backchannel)
	// Codecs as go2rtc names them, see CodecName: "H264", "PCMU/8000",
	// "OPUS/48000/2".
	Codecs []string
}

// Consumer is one reader of a stream.
type Consumer struct {
	FormatName string // "rtsp"
	Protocol   string // "rtsp+tcp", "rtsp+udp"
	RemoteAddr string
	Since      time.Time
	// BytesSent and PacketsSent count media written to the consumer.
	BytesSent, PacketsSent uint64
}

// Config configures a Server.
type Config struct {
	Listen string // host:port; "" and Start does nothing
	// Username and Password, when set, are asked (HTTP Basic) of every
	// client that is not on loopback.
	Username, Password string
	// RTSPPort is the port of the RTSP server, for the URLs the page
	// shows; 0: there is no RTSP server and the page shows none.
	RTSPPort int
	Log      *slog.Logger // nil: no logging
	Backend  Backend
}

// Bounds of the HTTP server. A probe may wait for a camera up to
// callTimeout; the write timeout leaves room to answer after it.
const (
	callTimeout       = 15 * time.Second
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = callTimeout + 10*time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	maxBodyBytes      = 64 << 10
	shutdownTimeout   = 3 * time.Second
)

// Server is the HTTP API server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	// callTimeout bounds each Backend call (tests shorten it).
	callTimeout time.Duration

	// base is the context of every request: Close cancels it so that
	// probes waiting for a camera end at once.
	base   context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// New makes a server; Start begins listening.
func New(cfg Config) *Server {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log.With("module", "api"), callTimeout: callTimeout}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s
}

// Handler is the server's whole handler (pages, API, auth and guards), for
// tests and for serving it on another listener.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on cfg.Listen and serves in the background. With Listen ""
// it does nothing. A Server starts once.
func (s *Server) Start() error {
	if s.cfg.Listen == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil || s.base.Err() != nil {
		return errors.New("api: already started or closed")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		// net/http's own complaints (TLS garbage, bad requests) at debug
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv, s.ln, s.done = srv, ln, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP API stopped", "err", err)
		}
	}(s.done)
	s.log.Info("HTTP API listening", "addr", ln.Addr().String(), "auth", s.cfg.Username != "")
	if s.cfg.Username == "" && !isLoopbackAddr(ln.Addr()) {
		s.log.Warn("HTTP API without credentials: anyone on the network can probe streams and play audio "+
			"into cameras; set api.username and api.password, or listen on loopback only (api.listen: 127.0.0.1:1984)",
			"listen", s.cfg.Listen)
	}
	return nil
}

// Addr is the address the server listens on; nil before Start or with
// Listen "".
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the server: requests in progress are cancelled and given a
// moment to answer, then every connection is closed.
func (s *Server) Close() error {
	s.cancel()
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = srv.Close()
	}
	<-done
	return err
}

func isLoopbackAddr(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// CodecName names a codec the way go2rtc shows it in its medias:
// NAME[/CLOCKRATE[/CHANNELS]], with the clock rate left out when it is 0 or
// 90000 and the channels when 0. name is go2rtc's: "H264", "H265", "PCMU",
// "PCMA", "MPEG4-GENERIC" (AAC), "OPUS", "G722", "L16".
// CodecName("PCMU", 8000, 0) = "PCMU/8000".
func CodecName(name string, clockRate, channels int) string {
	if clockRate != 0 && clockRate != 90000 {
		name += fmt.Sprintf("/%d", clockRate)
	}
	if channels > 0 {
		name += fmt.Sprintf("/%d", channels)
	}
	return name
}
