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

// publishSession is one ingest publisher (S5).
type publishSession struct {
	pub    *stream.Publication
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
	if !validName(name) {
		log.Info("publish refused: bad stream name")
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	var specs []stream.TrackSpec
	var medias []*description.Media
	for _, m := range ctx.Description.Medias {
		if m.IsBackChannel || len(m.Formats) == 0 {
			continue
		}
		specs = append(specs, stream.TrackSpec{Kind: stream.Kind(m.Type), Format: m.Formats[0]})
		medias = append(medias, m)
	}
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
	ps := &publishSession{pub: pub, tracks: map[*description.Media]*stream.Track{}, log: log}
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
			ps.pub.WritePacket(t, pkt, time.Now(), ntp)
		}
	})
	ps.log.Info("publisher started")
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (ps *publishSession) close(err error) {
	ps.pub.Close()
	ps.log.Info("publisher left", "reason", err)
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
