// Package rtsp is the source that pulls a stream from a camera or another
// RTSP server (schemes rtsp, rtsps, rtspx) with gortsplib's client. Sources
// of one camera URL share one camera session (see Kind).
package rtsp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// Default timeouts of R4.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultSilenceTimeout = 10 * time.Second
)

// Kind is the rtsp source kind. Many cameras allow one or two RTSP sessions,
// and users list one camera in several streams (`cam: …#media=video`,
// `cam_audio: …#media=audio`), so sources with the same upstream (scheme,
// user info, host, port, path and query; '#' options aside) share one camera
// session, set up with the union of the medias they need.
type Kind struct {
	log *slog.Logger

	mu        sync.Mutex
	upstreams map[string]*upstream
}

// NewKind returns the source kind; log receives what its camera sessions
// report (quirks met, retries).
func NewKind(log *slog.Logger) *Kind {
	return &Kind{log: log, upstreams: map[string]*upstream{}}
}

// Open is a stream.Opener that shares nothing with other calls: for tests and
// one-off use. rtspgate opens sources through a Kind.
func Open(spec stream.SourceSpec) (stream.Source, error) {
	return NewKind(slog.New(slog.DiscardHandler)).Open(spec)
}

// Source is one configured rtsp source: a view of a shared camera session
// with its own choice of media.
type Source struct {
	up          *upstream
	media       string // "", "video" or "audio"
	backchannel bool   // not #backchannel=0
}

// settings are how a camera session connects.
type settings struct {
	url         *base.URL
	redacted    string
	scheme      string // rtsp or rtsps
	insecure    bool   // rtspx: TLS without certificate check
	protocol    gortsplib.Protocol
	reqTimeout  time.Duration
	dataTimeout time.Duration
	backchannel bool
	ws          string // #transport=ws://…: RTSP inside a WebSocket; may hold credentials
}

// Open is the stream.Opener of rtsp://, rtsps:// and rtspx://. It checks the
// spec and joins it to the camera session of its upstream; nothing connects
// until the stream is read.
func (k *Kind) Open(spec stream.SourceSpec) (stream.Source, error) {
	st, media, err := parse(spec)
	if err != nil {
		return nil, err
	}
	key := upstreamKey(spec.Scheme, st.url)
	k.mu.Lock()
	defer k.mu.Unlock()
	up := k.upstreams[key]
	if up == nil {
		up = newUpstream(k, key, st)
		k.upstreams[key] = up
	} else {
		up.merge(st)
	}
	up.need(media)
	return &Source{up: up, media: media, backchannel: st.backchannel}, nil
}

func parse(spec stream.SourceSpec) (*settings, string, error) {
	raw := spec.URL
	st := &settings{
		scheme:      spec.Scheme,
		protocol:    gortsplib.ProtocolTCP,
		reqTimeout:  DefaultRequestTimeout,
		dataTimeout: DefaultSilenceTimeout,
		backchannel: true,
		redacted:    spec.Redacted,
	}
	if spec.Scheme == "rtspx" {
		st.scheme, st.insecure = "rtsps", true
		raw = "rtsps" + strings.TrimPrefix(raw, "rtspx")
	}
	u, err := base.ParseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("bad URL: %w", err)
	}
	st.url = u
	media, err := applyOptions(options(spec), st)
	if err != nil {
		return nil, "", err
	}
	return st, media, nil
}

// upstreamKey names a camera session: scheme, user info, host, port, path and
// query. rtsp://cam and rtsp://cam:554 are the same camera.
func upstreamKey(scheme string, u *base.URL) string {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), defaultPort(scheme))
	}
	user := ""
	if u.User != nil {
		user = u.User.String()
	}
	return scheme + "://" + user + "@" + strings.ToLower(host) + (*url.URL)(u).EscapedPath() + "?" + u.RawQuery
}

// defaultPort is the port of a URL without one: 554 for rtsp, 322 for
// rtsps and rtspx.
func defaultPort(scheme string) string {
	if scheme == "rtsp" {
		return "554"
	}
	return "322"
}

// Run implements stream.Source: it attaches to the camera session (starting
// it if needed) until ctx ends or the session fails.
func (s *Source) Run(ctx context.Context, pub stream.Publisher) error {
	sb := &subscriber{media: s.media, backchannel: s.backchannel, pub: pub, done: make(chan error, 1)}
	s.up.join(sb)
	select {
	case err := <-sb.done:
		return err
	case <-ctx.Done():
		s.up.leave(sb)
		return nil
	}
}

// Talk implements stream.Talker: the camera's ONVIF backchannel.
func (s *Source) Talk(ctx context.Context) (stream.Speaker, error) {
	if !s.backchannel {
		return nil, stream.ErrNoSink
	}
	return s.up.talk(ctx)
}
