package rtspserver

import (
	"errors"
	"log/slog"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// publishSession is one ingest publisher, or a child of ours
// publishing to a private ingest target.
type publishSession struct {
	write  func(t *stream.Track, pkt *rtp.Packet, now, ntp time.Time)
	end    func()
	tracks map[*description.Media]*stream.Track
	log    *slog.Logger
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce.
func (s *Server) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if !s.authorize(ctx.Conn, ctx.Request) {
		return unauthorized()
	}
	name := streamName(ctx.Path)
	log := s.log.With("stream", name, "peer", peer(ctx.Conn))
	if stream.IsPrivate(name) {
		return s.announcePrivate(ctx, name)
	}
	if !validName(name) {
		log.Info("publish refused: bad stream name")
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	specs, medias := announcedTracks(ctx.Description)
	if len(specs) == 0 {
		log.Info("publish refused: no media")
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	var pub *stream.Publication
	var err error
	for range 2 { // a dynamic stream being removed: take the new one
		st := s.reg.GetOrCreate(name)
		if st == nil {
			return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil
		}
		if pub, err = st.Publish(specs, peer(ctx.Conn)); !errors.Is(err, stream.ErrStreamClosed) {
			break
		}
	}
	if errors.Is(err, stream.ErrPublisherBusy) {
		log.Info("publish refused: the stream already has a publisher")
		return &base.Response{StatusCode: 409, StatusMessage: "Conflict: stream already has a publisher"}, nil
	}
	if err != nil {
		log.Info("publish refused", "err", err)
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	ps := &publishSession{write: pub.WritePacket, end: pub.Close, tracks: map[*description.Media]*stream.Track{}, log: log}
	for i, m := range medias {
		ps.tracks[m] = pub.Tracks[i]
	}
	ctx.Session.SetUserData(ps)
	log.Info("publisher announced", "tracks", stream.Describe(pub.Tracks))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord.
func (s *Server) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ps, ok := ctx.Session.UserData().(*publishSession)
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	ctx.Session.OnPacketRTPAny(func(m *description.Media, f format.Format, pkt *rtp.Packet) {
		if t := ps.tracks[m]; t != nil && f == m.Formats[0] {
			ntp, _ := ctx.Session.PacketNTP(m, pkt)
			ps.write(t, pkt, time.Now(), ntp)
		}
	})
	ps.log.Info("publisher started")
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (ps *publishSession) close(err error) {
	ps.end()
	ps.log.Info("publisher left", "reason", err)
}

// announcedTracks are the medias of a publisher's SDP that become tracks.
func announcedTracks(desc *description.Session) ([]stream.TrackSpec, []*description.Media) {
	var specs []stream.TrackSpec
	var medias []*description.Media
	for _, m := range desc.Medias {
		if m.IsBackChannel || len(m.Formats) == 0 {
			continue
		}
		specs = append(specs, stream.TrackSpec{Kind: stream.Kind(m.Type), Format: m.Formats[0]})
		medias = append(medias, m)
	}
	return specs, medias
}

// announcePrivate takes a publisher to a private ingest target: only from
// loopback (our own ffmpeg), only to a path a source registered.
func (s *Server) announcePrivate(ctx *gortsplib.ServerHandlerOnAnnounceCtx, name string) (*base.Response, error) {
	log := s.log.With("peer", peer(ctx.Conn))
	if !isLoopback(ctx.Conn.NetConn().RemoteAddr()) {
		log.Warn("publish to a private path refused: not from this machine")
		return &base.Response{StatusCode: base.StatusForbidden}, nil
	}
	target := s.reg.PrivateTarget(name)
	if target == nil {
		log.Info("publish to an unknown private path refused")
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	specs, medias := announcedTracks(ctx.Description)
	if len(specs) == 0 {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	tracks, err := target.SetTracks(specs)
	if err != nil {
		log.Info("private publish refused", "err", err)
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	ps := &publishSession{write: target.WritePacket, end: func() {}, tracks: map[*description.Media]*stream.Track{}, log: log.With("private", true)}
	for i, m := range medias {
		ps.tracks[m] = tracks[i]
	}
	ctx.Session.SetUserData(ps)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// validName is C2's rule for stream names.
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
