// Package rtspserver serves rtspgate's streams over RTSP: readers PLAY
// rtsp://host:port/{name}, publishers ANNOUNCE/RECORD to it. gortsplib runs
// the control plane; readers' media goes out through our own batching
// writers (see DESIGN.md): to TCP readers one write per frame on the RTSP
// connection, to UDP readers one sendmmsg per frame on the server's RTP
// socket, which gortsplib opens and we take through its ListenPacket hook.
package rtspserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// Config is what the server needs to know.
type Config struct {
	// Listen is host:port for RTSP over TCP.
	Listen       string
	Username     string
	Password     string
	DefaultQuery string
	// WaitTracks bounds how long DESCRIBE waits for a source to connect or
	// a publisher to appear.
	WaitTracks   time.Duration
	WriteTimeout time.Duration
	ReadTimeout  time.Duration
	// UDPRTPAddress and UDPRTCPAddress (an even port and the next) enable
	// UDP readers; empty: TCP only.
	UDPRTPAddress  string
	UDPRTCPAddress string
}

// Server is the RTSP server.
type Server struct {
	cfg Config
	reg *stream.Registry
	log *slog.Logger
	srv *gortsplib.Server
	udp udpOut // nil without UDP

	mu    sync.Mutex
	media map[*stream.Stream]map[string]*mediaSet

	cmu       sync.Mutex // the readers playing, by stream
	consumers map[*stream.Stream]map[*session]struct{}

	votes channelVotes // the interleaved channels TCP readers chose
}

// New makes a server; Start begins listening.
func New(cfg Config, reg *stream.Registry, log *slog.Logger) *Server {
	if cfg.WaitTracks == 0 {
		cfg.WaitTracks = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.DefaultQuery == "" {
		cfg.DefaultQuery = "video&audio"
	}
	return &Server{cfg: cfg, reg: reg, log: log.With("module", "rtsp"), media: map[*stream.Stream]map[string]*mediaSet{}}
}

// Start listens on the configured address.
func (s *Server) Start() error {
	var rtp, rtcp *net.UDPConn
	s.srv = &gortsplib.Server{
		Handler:        s,
		RTSPAddress:    s.cfg.Listen,
		UDPRTPAddress:  s.cfg.UDPRTPAddress,
		UDPRTCPAddress: s.cfg.UDPRTCPAddress,
		ReadTimeout:    s.cfg.ReadTimeout,
		WriteTimeout:   s.cfg.WriteTimeout,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err != nil {
				return nil, err
			}
			return &listener{Listener: l, writeTimeout: s.cfg.WriteTimeout}, nil
		},
		// the UDP sockets: gortsplib reads from them, UDP readers' media
		// goes out on them from our own writers
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			pc, err := net.ListenPacket(network, address)
			if err != nil {
				return nil, err
			}
			uc, ok := pc.(*net.UDPConn)
			if !ok {
				return pc, nil
			}
			switch address {
			case s.cfg.UDPRTPAddress:
				rtp = uc
			case s.cfg.UDPRTCPAddress:
				rtcp = uc
			}
			return udpSocket{uc}, nil
		},
	}
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtsp: listen %s: %w", s.cfg.Listen, err)
	}
	if rtp != nil && rtcp != nil {
		s.udp = newUDPPlane(rtp, rtcp, s.log)
		if !s.udp.segments() {
			s.log.Info("no UDP segmentation offload here (Linux 4.18 or later has it): UDP readers get their datagrams one by one")
		}
	}
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.srv.NetListener().Addr() }

// Close stops the server and ends every connection.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.mu.Lock()
	for _, sets := range s.media {
		for _, ms := range sets {
			ms.ss.Close()
		}
	}
	s.media = map[*stream.Stream]map[string]*mediaSet{}
	s.mu.Unlock()
}

func connOf(sc *gortsplib.ServerConn) *conn {
	c, _ := sc.NetConn().(*conn)
	return c
}

func peer(sc *gortsplib.ServerConn) string { return sc.NetConn().RemoteAddr().String() }

// streamName turns a request path into a stream name: no leading or trailing
// slashes.
func streamName(path string) string { return strings.Trim(path, "/") }

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (s *Server) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	s.log.Debug("connection opened", "peer", peer(ctx.Conn))
}

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (s *Server) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	level := slog.LevelDebug
	if ctx.Error != nil && !isBenignClose(ctx.Error) {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "connection closed", "peer", peer(ctx.Conn), "reason", ctx.Error)
}

func isBenignClose(err error) bool {
	var term liberrors.ErrServerTerminated
	var td liberrors.ErrServerSessionTornDown
	return errors.As(err, &term) || errors.As(err, &td) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF")
}

// OnRequest implements gortsplib.ServerHandlerOnRequest.
func (s *Server) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if c := connOf(sc); c != nil {
		c.lastMethod = string(req.Method)
	}
	addRequire(req)
}

// OnResponse implements gortsplib.ServerHandlerOnResponse: it learns the
// interleaved channels a TCP reader got, announces the SSRC our packets
// carry, and starts media right after the PLAY response.
func (s *Server) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	c := connOf(sc)
	if c == nil || res.StatusCode != base.StatusOK {
		return
	}
	switch base.Method(c.lastMethod) {
	case base.Setup:
		if sess := c.setup; sess != nil {
			c.setup = nil
			sess.setupDone(res, sc.NetConn().RemoteAddr())
		}
	case base.Play:
		if ss := sc.Session(); ss != nil {
			if sess, ok := ss.UserData().(*session); ok && sess.pendingStart != nil {
				c.armAfterWrite(sess.pendingStart)
				sess.pendingStart = nil
			}
		}
	}
}

// authorize applies the loopback rule: credentials only when configured and only for
// clients that are not on loopback.
func (s *Server) authorize(sc *gortsplib.ServerConn, req *base.Request) bool {
	if s.cfg.Username == "" {
		return true
	}
	c := connOf(sc)
	if c != nil && c.authed {
		return true
	}
	if isLoopback(sc.NetConn().RemoteAddr()) {
		return true
	}
	if sc.VerifyCredentials(req, s.cfg.Username, s.cfg.Password) {
		if c != nil {
			c.authed = true
		}
		return true
	}
	return false
}

var errAuth = liberrors.ErrServerAuth{}

func unauthorized() (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusUnauthorized}, errAuth
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s *Server) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorize(ctx.Conn, ctx.Request) {
		res, err := unauthorized()
		return res, nil, err
	}
	ms, res := s.mediaFor(ctx.Conn, ctx.Path, ctx.Query, requiresBackchannel(ctx.Request))
	if ms == nil {
		return res, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, ms.ss, nil
}

// mediaFor resolves path and query to the media set a reader gets, or the
// refusal to send; talks says the reader asked for the backchannel.
func (s *Server) mediaFor(sc *gortsplib.ServerConn, path, query string, talks bool) (*mediaSet, *base.Response) {
	name := streamName(path)
	log := s.log.With("stream", name, "peer", peer(sc))
	st := s.reg.Get(name)
	if st == nil {
		log.Info("no such stream")
		return nil, &base.Response{StatusCode: base.StatusNotFound}
	}
	q := query
	if !stream.HasCodecFilter(q) {
		q = s.cfg.DefaultQuery
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WaitTracks)
	defer cancel()
	if talks {
		// the backchannel may be on any source: it is known once they all
		// had their say
		release := st.Acquire()
		defer release()
		_, _ = st.WaitTracks(ctx)
	}
	// only the sources the query needs connect
	release := st.AcquireFor(q)
	defer release()
	sel, err := st.WaitTracksFor(ctx, q)
	switch {
	case errors.Is(err, stream.ErrBadQuery):
		log.Info("bad query", "err", err)
		return nil, &base.Response{StatusCode: base.StatusBadRequest}
	case errors.Is(err, stream.ErrNoMatch):
		log.Info("no track matches the query", "err", err)
		return nil, &base.Response{StatusCode: base.StatusUnsupportedMediaType}
	case err != nil:
		log.Warn("stream unavailable", "err", err)
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}
	}
	ms, err := s.mediaSetFor(st, sel, st.Sinks())
	if err != nil {
		log.Error("cannot serve stream", "err", err)
		return nil, &base.Response{StatusCode: base.StatusInternalServerError}
	}
	return ms, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s *Server) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !s.authorize(ctx.Conn, ctx.Request) {
		res, err := unauthorized()
		return res, nil, err
	}
	sess, _ := ctx.Session.UserData().(*session)
	if sess == nil {
		ms, res := s.mediaFor(ctx.Conn, ctx.Path, ctx.Query, false)
		if ms == nil {
			return res, nil, nil
		}
		sess = newReaderSession(s, ctx.Session, ms, peer(ctx.Conn), ctx.Query)
		ctx.Session.SetUserData(sess)
	}
	if c := connOf(ctx.Conn); c != nil {
		c.setup = sess
	}
	return &base.Response{StatusCode: base.StatusOK}, sess.ms.ss, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s *Server) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if !s.authorize(ctx.Conn, ctx.Request) {
		return unauthorized()
	}
	sess, _ := ctx.Session.UserData().(*session)
	if sess == nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	if err := sess.play(connOf(ctx.Conn)); err != nil {
		s.log.Info("cannot play", "stream", sess.ms.st.Name, "peer", sess.peer, "err", err)
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPause implements gortsplib.ServerHandlerOnPause: media stops until the
// next PLAY.
func (s *Server) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	if sess, ok := ctx.Session.UserData().(*session); ok {
		sess.pause()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnPacketsLost implements gortsplib.ServerHandlerOnPacketsLost (publishers
// over UDP). Without it gortsplib prints to stderr.
func (s *Server) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	s.log.Debug("packets lost", "stream", streamName(ctx.Session.Path()), "lost", ctx.Lost)
}

// OnDecodeError implements gortsplib.ServerHandlerOnDecodeError.
func (s *Server) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	s.log.Debug("undecodable packet", "stream", streamName(ctx.Session.Path()), "err", ctx.Error)
}

// OnStreamWriteError implements gortsplib.ServerHandlerOnStreamWriteError.
func (s *Server) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	s.log.Debug("write to reader failed", "stream", streamName(ctx.Session.Path()), "err", ctx.Error)
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (s *Server) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	switch sess := ctx.Session.UserData().(type) {
	case *session:
		sess.close(ctx.Error)
	case *publishSession:
		sess.close(ctx.Error)
	}
}

// mediaSet is what readers of one stream with one track selection share: a
// gortsplib ServerStream that describes the medias (and carries UDP readers'
// packets), and the tracks behind them.
type mediaSet struct {
	st     *stream.Stream
	tracks []*stream.Track
	medias []*description.Media
	// bc is the camera's backchannel, offered to readers that ask for it
	// (gortsplib lists it only for a DESCRIBE with the ONVIF Require header)
	bc *description.Media
	ss *gortsplib.ServerStream
}

func (ms *mediaSet) valid() bool {
	for _, t := range ms.tracks {
		select {
		case <-t.Done():
			return false
		default:
		}
	}
	return true
}

func (ms *mediaSet) position(m *description.Media) int {
	for i, x := range ms.medias {
		if x == m {
			return i
		}
	}
	return -1
}

func (s *Server) mediaSetFor(st *stream.Stream, tracks []*stream.Track, sinks []stream.SinkSpec) (*mediaSet, error) {
	key := make([]string, len(tracks))
	for i, t := range tracks {
		// a track with new parameters needs a new description; the old
		// set goes on serving its readers until its tracks end
		key[i] = fmt.Sprintf("%d.%d", t.ID, t.Generation())
	}
	k := strings.Join(key, ",")
	if len(sinks) > 0 {
		k += "+" + formatsString(sinks[0].Formats)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for old, sets := range s.media {
		if old.Closed() { // a removed stream: let it go
			for _, ms := range sets {
				ms.ss.Close()
			}
			delete(s.media, old)
		}
	}
	sets := s.media[st]
	if sets == nil {
		sets = map[string]*mediaSet{}
		s.media[st] = sets
	}
	for key, ms := range sets {
		if !ms.valid() {
			ms.ss.Close()
			delete(sets, key)
		}
	}
	if ms := sets[k]; ms != nil {
		return ms, nil
	}
	ms := &mediaSet{st: st, tracks: tracks}
	desc := &description.Session{Title: st.Name}
	for i, t := range tracks {
		if _, ok := t.FrameTag(); !ok {
			// the channel a reader of this description picks, until
			// readers say otherwise (see channelVotes)
			t.SetFrameTag(byte(2 * i))
		}
		m := &description.Media{Type: description.MediaType(t.Kind), Formats: []format.Format{t.Format()}}
		ms.medias = append(ms.medias, m)
		desc.Medias = append(desc.Medias, m)
	}
	if len(sinks) > 0 {
		ms.bc = &description.Media{Type: description.MediaType(sinks[0].Kind), IsBackChannel: true, Formats: sinks[0].Formats}
		desc.Medias = append(desc.Medias, ms.bc)
	}
	ms.ss = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := ms.ss.Initialize(); err != nil {
		return nil, err
	}
	sets[k] = ms
	return ms, nil
}

// transportOf parses the Transport header of a SETUP response.
func transportOf(res *base.Response) (*headers.Transport, error) {
	var th headers.Transport
	if err := th.Unmarshal(res.Header["Transport"]); err != nil {
		return nil, err
	}
	return &th, nil
}
