package rtsp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/source/rtsp/repair"
	"github.com/rtspgate/rtspgate/internal/source/rtsp/wsconn"
	"github.com/rtspgate/rtspgate/internal/stream"
)

// upstream is one camera session shared by every source with its key. It
// runs while at least one source is attached; a failure ends every attached
// source's Run, and the streams reconnect them with backoff (the first to
// come back starts a new session, the others join it).
type upstream struct {
	kind *Kind
	key  string
	log  *slog.Logger

	mu   sync.Mutex
	st   *settings
	all  bool // some source wants every media
	want map[string]bool
	subs []*subscriber
	sess *session // running or ending; nil when none
	// noBackchannel: the camera refused the ONVIF Require header once;
	// later sessions do not ask again
	noBackchannel bool
	speaker       *speaker // the one talker
}

// subscriber is one attached source.
type subscriber struct {
	media       string
	backchannel bool // its source did not say #backchannel=0
	pub         stream.Publisher
	done        chan error // gets the session's end, once
	ended       bool
	// its tracks in the running session, by camera media; up.mu
	tracks map[*description.Media]*stream.Track
}

// session is one connection to the camera.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once PLAY is answered
	// restart: the session ends to start again at once with what its
	// sources and talker need now (the backchannel); sources stay attached
	restart bool
	// set once the camera's medias are set up
	medias []*description.Media
	online bool
	routes atomic.Pointer[map[*description.Media][]target] // by camera media
	// the backchannel, when set up for a talker
	client *gortsplib.Client
	bc     *description.Media
	bcNote string // why the backchannel is not there, for the probe
	sinks  []stream.SinkSpec
}

// target is one place packets of a camera media go.
type target struct {
	pub   stream.Publisher
	track *stream.Track
}

func newUpstream(k *Kind, key string, st *settings) *upstream {
	return &upstream{kind: k, key: key, st: st, want: map[string]bool{}, log: k.log.With("camera", st.redacted)}
}

// merge adds another source's settings: the longest timeouts win, and the
// backchannel is asked for if any source wants it.
func (up *upstream) merge(st *settings) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.st.reqTimeout = max(up.st.reqTimeout, st.reqTimeout)
	up.st.dataTimeout = max(up.st.dataTimeout, st.dataTimeout)
	up.st.backchannel = up.st.backchannel || st.backchannel
	if st.protocol != up.st.protocol {
		up.log.Warn("sources of one camera ask for different transports; the first one's is used", "transport", up.st.protocol.String())
	}
}

// need records that a source of this camera uses media ("" = all).
func (up *upstream) need(media string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	if media == "" {
		up.all = true
	}
	up.want[media] = true
}

func (up *upstream) join(sb *subscriber) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.subs = append(up.subs, sb)
	if up.sess == nil {
		up.startLocked()
		return
	}
	if up.sess.online {
		up.attachLocked(up.sess, sb)
		up.routeLocked(up.sess)
	}
}

func (up *upstream) leave(sb *subscriber) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.removeLocked(sb)
	if len(up.subs) == 0 && up.speaker == nil && up.sess != nil {
		up.sess.cancel() // nobody left: hang up now
	}
	if up.sess != nil {
		up.routeLocked(up.sess)
	}
}

func (up *upstream) removeLocked(sb *subscriber) {
	for i, o := range up.subs {
		if o == sb {
			up.subs = append(up.subs[:i], up.subs[i+1:]...)
			return
		}
	}
}

// end gives sb its result; up.mu held.
func (sb *subscriber) end(err error) {
	if !sb.ended {
		sb.ended = true
		sb.done <- err
	}
}

func (up *upstream) startLocked() {
	go up.loop(up.newSessionLocked())
}

func (up *upstream) newSessionLocked() *session {
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{ctx: ctx, cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	sess.routes.Store(&map[*description.Media][]target{})
	up.sess = sess
	return sess
}

// loop runs camera sessions one after the other: again at once when a
// session was restarted for its talker, otherwise until one fails, which
// ends every attached source and the talker.
func (up *upstream) loop(sess *session) {
	for {
		err := up.run(sess.ctx, sess)
		sess.cancel()
		close(sess.done)
		if err == nil {
			err = errors.New("camera session ended")
		}
		if errors.Is(err, stream.ErrBusy) {
			// make room for the retry: hang up our sessions to the
			// camera that only idle streams hold
			up.kind.yieldIdle(up)
		}
		up.mu.Lock()
		if sess.restart && up.sess == sess && (len(up.subs) > 0 || up.speaker != nil) {
			sess = up.newSessionLocked()
			up.mu.Unlock()
			continue
		}
		if up.sess == sess {
			up.sess = nil
		}
		for _, sb := range up.subs {
			sb.end(err)
		}
		up.subs = nil
		if up.speaker != nil {
			up.speaker.finish(err)
			up.speaker = nil
		}
		up.mu.Unlock()
		return
	}
}

// attachLocked gives sb its tracks of a session that is set up; up.mu held.
// A source whose #media the camera lacks ends at once.
func (up *upstream) attachLocked(sess *session, sb *subscriber) {
	var specs []stream.TrackSpec
	var medias []*description.Media
	for _, m := range sess.medias {
		if sb.media == "" || string(m.Type) == sb.media {
			specs = append(specs, stream.TrackSpec{Kind: stream.Kind(m.Type), Format: m.Formats[0]})
			medias = append(medias, m)
		}
	}
	if len(specs) == 0 {
		up.removeLocked(sb)
		what := "usable"
		if sb.media != "" {
			what = sb.media
		}
		sb.end(fmt.Errorf("camera offers no %s media", what))
		return
	}
	if sb.backchannel {
		sb.pub.SetSinks(sess.sinks, sess.bcNote)
	}
	tracks, err := sb.pub.SetTracks(specs)
	if err != nil {
		up.removeLocked(sb)
		sb.end(err)
		return
	}
	sb.tracks = map[*description.Media]*stream.Track{}
	for i, m := range medias {
		sb.tracks[m] = tracks[i]
	}
}

// routeLocked publishes where each media's packets go now; up.mu held.
func (up *upstream) routeLocked(sess *session) {
	routes := make(map[*description.Media][]target, len(sess.medias))
	for _, m := range sess.medias {
		for _, sb := range up.subs {
			if t := sb.tracks[m]; t != nil {
				routes[m] = append(routes[m], target{pub: sb.pub, track: t})
			}
		}
	}
	sess.routes.Store(&routes)
}

// wantsLocked reports whether the camera media m is needed by a source.
func (up *upstream) wantsLocked(m *description.Media) bool {
	return up.all || up.want[string(m.Type)]
}

// run is one camera session: DESCRIBE (with the backchannel Require header
// unless refused), SETUP of the medias any source needs, attach the sources,
// PLAY, then wait.
func (up *upstream) run(ctx context.Context, sess *session) error {
	up.mu.Lock()
	st := *up.st
	askBC := st.backchannel && !up.noBackchannel
	up.mu.Unlock()

	c, desc, err := up.describe(ctx, &st, askBC)
	if err != nil && askBC && ctx.Err() == nil && !isAuthError(err) && !errors.Is(err, errNoAnswer) && !isLimit(err) {
		// some cameras refuse or break on the backchannel Require
		// header; one that says nothing at all is not helped by a retry
		c, desc, err = up.describe(ctx, &st, false)
		if err == nil {
			up.mu.Lock()
			up.noBackchannel = true
			up.mu.Unlock()
			up.log.Info("camera refused the ONVIF backchannel request; not asking it again")
		}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	var medias []*description.Media
	var bc *description.Media
	up.mu.Lock()
	for _, m := range desc.Medias {
		switch {
		case m.IsBackChannel && len(m.Formats) > 0 && bc == nil:
			bc = m
		case !m.IsBackChannel && len(m.Formats) > 0 && up.wantsLocked(m):
			medias = append(medias, m)
		}
	}
	talking := up.speaker != nil
	up.mu.Unlock()
	if len(medias) == 0 {
		return errors.New("camera offers no usable media")
	}
	for _, m := range medias {
		err := request(&st, func() error { _, err := c.Setup(desc.BaseURL, m, 0, 0); return err }, c)
		if err != nil {
			return busyIf(fmt.Errorf("SETUP %s: %w", m.Type, err))
		}
	}
	// the backchannel is announced always (the probe shows it) but set up
	// only for a talker: a doorbell may allow one talk session
	var sinks []stream.SinkSpec
	if bc != nil {
		sinks = []stream.SinkSpec{{Kind: stream.Kind(bc.Type), Formats: bc.Formats}}
	}
	note := ""
	if bc != nil && talking {
		err := request(&st, func() error { _, err := c.Setup(desc.BaseURL, bc, 0, 0); return err }, c)
		if err != nil {
			note = "the camera refused the backchannel SETUP (" + err.Error() + ")"
			up.log.Warn("two-way audio unavailable: the camera refused the backchannel SETUP; going on without it", "err", err)
			bc, sinks = nil, nil
		}
	}
	up.mu.Lock()
	sess.sinks = sinks
	if talking && bc != nil {
		sess.client, sess.bc = c, bc
	}
	sess.bcNote = note
	sess.medias = medias
	sess.online = true
	for _, sb := range append([]*subscriber(nil), up.subs...) {
		up.attachLocked(sess, sb)
	}
	up.routeLocked(sess)
	up.mu.Unlock()

	c.OnPacketRTPAny(func(m *description.Media, f format.Format, pkt *rtp.Packet) {
		if f != m.Formats[0] {
			return
		}
		now := time.Now()
		ntp, _ := c.PacketNTP(m, pkt)
		targets := (*sess.routes.Load())[m]
		for i, tg := range targets {
			p := pkt
			if i < len(targets)-1 {
				cp := *pkt // each stream rewrites the header of its own copy
				p = &cp
			}
			tg.pub.WritePacket(tg.track, p, now, ntp)
		}
	})
	if err := request(&st, func() error { _, err := c.Play(nil); return err }, c); err != nil {
		return busyIf(fmt.Errorf("PLAY: %w", err))
	}
	close(sess.ready) // talk may start: the camera has answered PLAY
	err = c.Wait()
	if ctx.Err() != nil {
		return nil
	}
	var tcpSilent liberrors.ErrClientTCPTimeout
	var udpSilent liberrors.ErrClientUDPTimeout
	if errors.As(err, &tcpSilent) || errors.As(err, &udpSilent) {
		return fmt.Errorf("no data from the camera for %v (%w)", st.dataTimeout, err)
	}
	return err
}

// client makes the gortsplib client of one connection attempt.
func (up *upstream) client(st *settings, backchannel bool, onResponse func(*base.Response)) *gortsplib.Client {
	proto := st.protocol
	c := &gortsplib.Client{
		Scheme:              st.scheme,
		Host:                st.url.Host,
		Protocol:            &proto,
		ReadTimeout:         st.dataTimeout,
		WriteTimeout:        st.reqTimeout,
		RequestBackChannels: backchannel,
		OnResponse:          onResponse,
		// without these gortsplib prints each event on stderr; losses show
		// in the stream's health later
		OnPacketsLost: func(uint64) {},
		OnDecodeError: func(error) {},
		// every answer passes the repair layer; for TLS it sits on the
		// plaintext side, so dial TLS ourselves
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return up.dial(ctx, st, network, addr, nil)
		},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cfg := &tls.Config{InsecureSkipVerify: st.insecure} //nolint:gosec // rtspx:// asks for exactly this
			return up.dial(ctx, st, network, addr, cfg)
		},
	}
	return c
}

// dial connects to the camera, over TLS when cfg is set, and puts the repair
// layer in front of gortsplib's parser. Each quirk it mends is logged once
// per connection.
func (up *upstream) dial(ctx context.Context, st *settings, network, addr string, cfg *tls.Config) (net.Conn, error) {
	var nc net.Conn
	var err error
	if st.ws != "" {
		// the WebSocket carries RTSP; its URL, not the RTSP one, says
		// where to connect and how to log in to the upgrade
		nc, err = wsconn.Dial(ctx, st.ws, st.reqTimeout, &tls.Config{})
	} else {
		d := net.Dialer{Timeout: st.reqTimeout}
		nc, err = d.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, st.reqTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, tlsError(err)
		}
		nc = tc
	}
	return repair.Wrap(nc, repair.Options{OnQuirk: func(q repair.Quirk) {
		up.log.Info("camera quirk repaired", "quirk", string(q))
		up.quirk(string(q))
	}}), nil
}

// quirk tells every attached source's stream of a camera quirk met, for
// its health; the streams keep each once.
func (up *upstream) quirk(q string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	for _, sb := range up.subs {
		sb.pub.Quirk(q)
	}
}

// tapoRealm is the realm of TP-Link Tapo cameras: they play without a login
// when the request URL names 127.0.0.1.
const tapoRealm = "TP-LINK Streaming Media"

func (up *upstream) describe(ctx context.Context, st *settings, backchannel bool) (*gortsplib.Client, *description.Session, error) {
	var realm atomic.Value
	onResponse := func(res *base.Response) {
		if res.StatusCode == base.StatusUnauthorized {
			realm.Store(authRealm(res.Header["WWW-Authenticate"]))
		}
	}
	c, desc, err := up.describeURL(ctx, st, st.url, backchannel, onResponse)
	if r, _ := realm.Load().(string); err != nil && isAuthError(err) && st.url.User == nil && r == tapoRealm {
		up.log.Info("camera quirk: TP-Link Tapo asks for a login; asking again as 127.0.0.1, which it lets in without one")
		up.quirk("TP-Link Tapo login skipped (asked as 127.0.0.1)")
		u := st.url.Clone()
		u.Host = net.JoinHostPort("127.0.0.1", portOf(st))
		c, desc, err = up.describeURL(ctx, st, u, backchannel, nil)
	}
	return c, desc, err
}

func portOf(st *settings) string {
	if p := st.url.Port(); p != "" {
		return p
	}
	return defaultPort(st.scheme)
}

func (up *upstream) describeURL(ctx context.Context, st *settings, u *base.URL, backchannel bool, onResponse func(*base.Response)) (*gortsplib.Client, *description.Session, error) {
	c := up.client(st, backchannel, onResponse)
	if err := c.Start(); err != nil {
		return nil, nil, busyIf(fmt.Errorf("connect: %w", err))
	}
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	var desc *description.Session
	err := request(st, func() error {
		var err error
		desc, _, err = c.Describe(u)
		return err
	}, c)
	if err != nil {
		c.Close()
		return nil, nil, busyIf(fmt.Errorf("DESCRIBE: %w", err))
	}
	return c, desc, nil
}

// tlsError says what to do about a certificate the camera's TLS offers and
// we cannot trust: most cameras have a self-signed one.
func tlsError(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) {
		return fmt.Errorf("TLS: the camera's certificate is not trusted (%v): use rtspx:// to skip the check, or trust its CA", err)
	}
	return fmt.Errorf("TLS: %w", err)
}

// authRealm is the realm of the first WWW-Authenticate header.
func authRealm(values base.HeaderValue) string {
	for _, v := range values {
		var h headers.Authenticate
		if err := h.Unmarshal(base.HeaderValue{v}); err == nil {
			return h.Realm
		}
	}
	return ""
}

// request runs one RTSP request and closes the client if it takes longer than
// the request timeout: gortsplib's own limit is ReadTimeout, which R4 wants
// longer, for data silence.
func request(st *settings, fn func() error, c *gortsplib.Client) error {
	t := time.AfterFunc(st.reqTimeout, c.Close)
	err := fn()
	if !t.Stop() {
		return fmt.Errorf("%w within %v", errNoAnswer, st.reqTimeout)
	}
	return err
}

var errNoAnswer = errors.New("no answer")

func isAuthError(err error) bool {
	var bad liberrors.ErrClientBadStatusCode
	return errors.As(err, &bad) && bad.Code == base.StatusUnauthorized
}

// isLimit reports whether the camera answered that it is at its session
// limit (503 Service Unavailable, 453 Not Enough Bandwidth).
func isLimit(err error) bool {
	var bad liberrors.ErrClientBadStatusCode
	return errors.As(err, &bad) && (bad.Code == base.StatusServiceUnavailable || bad.Code == base.StatusNotEnoughBandwidth)
}

// busyIf marks the ways a camera at its session limit refuses: 503, 453, or
// a connection it closes.
func busyIf(err error) error {
	if isLimit(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%w: %w", stream.ErrBusy, err)
	}
	return err
}

// yieldIdle ends the sessions to the same camera host that only streams
// without readers hold (their grace time), so that up can connect.
func (k *Kind) yieldIdle(up *upstream) {
	host := up.st.url.Hostname()
	k.mu.Lock()
	var others []*upstream
	for _, o := range k.upstreams {
		if o != up && o.st.url.Hostname() == host {
			others = append(others, o)
		}
	}
	k.mu.Unlock()
	for _, o := range others {
		o.mu.Lock()
		idle := o.sess != nil && len(o.subs) > 0
		for _, sb := range o.subs {
			idle = idle && !sb.pub.Wanted()
		}
		if idle {
			up.log.Info("camera busy: closing an idle session of ours to it", "other", o.st.redacted)
			for _, sb := range o.subs {
				sb.end(stream.ErrYielded)
			}
			o.subs = nil
			o.sess.cancel()
		}
		o.mu.Unlock()
	}
}
