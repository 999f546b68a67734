// Package rtsp is the source that pulls a stream from a camera or another
// RTSP server (schemes rtsp, rtsps, rtspx) with gortsplib's client.
package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// Default timeouts of R4.
const (
	DefaultRequestTimeout = 5 * time.Second
	DefaultSilenceTimeout = 10 * time.Second
)

// Source pulls one RTSP URL.
type Source struct {
	url         *base.URL
	scheme      string // rtsp or rtsps
	insecure    bool   // rtspx: TLS without certificate check
	protocol    gortsplib.Protocol
	reqTimeout  time.Duration
	dataTimeout time.Duration
	media       string // "", "video" or "audio"
	backchannel bool
}

// Open is the stream.Opener of rtsp://, rtsps:// and rtspx://.
func Open(spec stream.SourceSpec) (stream.Source, error) {
	raw := spec.URL
	s := &Source{
		scheme:      spec.Scheme,
		protocol:    gortsplib.ProtocolTCP,
		reqTimeout:  DefaultRequestTimeout,
		dataTimeout: DefaultSilenceTimeout,
		backchannel: true,
	}
	if spec.Scheme == "rtspx" {
		s.scheme, s.insecure = "rtsps", true
		raw = "rtsps" + strings.TrimPrefix(raw, "rtspx")
	}
	u, err := base.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("bad URL: %w", err)
	}
	s.url = u
	for k, v := range spec.Options {
		switch k {
		case "timeout":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("#timeout=%s: want whole seconds > 0", v)
			}
			s.reqTimeout = time.Duration(n) * time.Second
			s.dataTimeout = s.reqTimeout
		case "media":
			if v != "video" && v != "audio" {
				return nil, fmt.Errorf("#media=%s: want video or audio", v)
			}
			s.media = v
		case "backchannel":
			s.backchannel = v != "0"
		case "transport":
			switch v {
			case "tcp":
			case "udp":
				s.protocol = gortsplib.ProtocolUDP
			default:
				// v may be ws://user:pass@…: never print it
				return nil, errors.New("#transport: RTSP over WebSocket is not supported yet (tcp or udp)")
			}
		default:
			return nil, fmt.Errorf("unknown option #%s", k)
		}
	}
	return s, nil
}

func (s *Source) client(backchannel bool) *gortsplib.Client {
	proto := s.protocol
	c := &gortsplib.Client{
		Scheme:              s.scheme,
		Host:                s.url.Host,
		Protocol:            &proto,
		ReadTimeout:         s.dataTimeout,
		WriteTimeout:        s.reqTimeout,
		RequestBackChannels: backchannel,
		// without these gortsplib prints each event on stderr; losses show
		// in the stream's health later (H5)
		OnPacketsLost: func(uint64) {},
		OnDecodeError: func(error) {},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: s.reqTimeout}
			return d.DialContext(ctx, network, addr)
		},
	}
	if s.insecure {
		c.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // rtspx:// asks for exactly this
	}
	return c
}

// Run implements stream.Source.
func (s *Source) Run(ctx context.Context, pub stream.Publisher) error {
	c, desc, err := s.describe(ctx, s.backchannel)
	if err != nil && s.backchannel && ctx.Err() == nil && !isAuthError(err) && !errors.Is(err, errNoAnswer) {
		// R6: some cameras refuse or break on the backchannel Require
		// header; one that says nothing at all is not helped by a retry
		c, desc, err = s.describe(ctx, false)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	var specs []stream.TrackSpec
	var medias []*description.Media
	for _, m := range desc.Medias {
		if m.IsBackChannel || len(m.Formats) == 0 {
			continue
		}
		if s.media != "" && string(m.Type) != s.media {
			continue
		}
		specs = append(specs, stream.TrackSpec{Kind: stream.Kind(m.Type), Format: m.Formats[0]})
		medias = append(medias, m)
	}
	if len(medias) == 0 {
		return errors.New("camera offers no usable media")
	}
	for _, m := range medias {
		err := s.request(func() error { _, err := c.Setup(desc.BaseURL, m, 0, 0); return err }, c)
		if err != nil {
			return fmt.Errorf("SETUP %s: %w", m.Type, err)
		}
	}
	tracks, err := pub.SetTracks(specs)
	if err != nil {
		return err
	}
	byMedia := make(map[*description.Media]*stream.Track, len(medias))
	for i, m := range medias {
		byMedia[m] = tracks[i]
	}
	c.OnPacketRTPAny(func(m *description.Media, f format.Format, pkt *rtp.Packet) {
		if t := byMedia[m]; t != nil && f == m.Formats[0] {
			pub.WritePacket(t, pkt, time.Now())
		}
	})
	if err := s.request(func() error { _, err := c.Play(nil); return err }, c); err != nil {
		return fmt.Errorf("PLAY: %w", err)
	}
	err = c.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Source) describe(ctx context.Context, backchannel bool) (*gortsplib.Client, *description.Session, error) {
	c := s.client(backchannel)
	if err := c.Start(); err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	var desc *description.Session
	err := s.request(func() error {
		var err error
		desc, _, err = c.Describe(s.url)
		return err
	}, c)
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("DESCRIBE: %w", err)
	}
	return c, desc, nil
}

// request runs one RTSP request and closes the client if it takes longer than
// the request timeout: gortsplib's own limit is ReadTimeout, which R4 wants
// longer, for data silence.
func (s *Source) request(fn func() error, c *gortsplib.Client) error {
	t := time.AfterFunc(s.reqTimeout, c.Close)
	err := fn()
	if !t.Stop() {
		return fmt.Errorf("%w within %v", errNoAnswer, s.reqTimeout)
	}
	return err
}

var errNoAnswer = errors.New("no answer")

func isAuthError(err error) bool {
	var bad liberrors.ErrClientBadStatusCode
	return errors.As(err, &bad) && bad.Code == base.StatusUnauthorized
}
