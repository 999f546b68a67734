package rtspserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// onvifBackchannel is the Require value that asks for the backchannel.
const onvifBackchannel = "www.onvif.org/ver20/backchannel"

// wantsBackchannel reports whether a reader's query asks for the
// backchannel: most players cannot send the ONVIF Require header, so
// `?backchannel=1` does the same.
func wantsBackchannel(rawQuery string) bool {
	q, err := url.ParseQuery(rawQuery)
	return err == nil && q.Get("backchannel") == "1"
}

// addRequire makes a DESCRIBE with ?backchannel=1 look to gortsplib as if it
// carried the ONVIF Require header, which is what makes gortsplib put the
// backchannel media in the SDP.
func addRequire(req *base.Request) {
	if req.Method != base.Describe || req.URL == nil || !wantsBackchannel(req.URL.RawQuery) {
		return
	}
	if !requiresBackchannel(req) {
		req.Header["Require"] = append(req.Header["Require"], onvifBackchannel)
	}
}

// requiresBackchannel reports whether req carries the ONVIF Require header
// (addRequire adds it for ?backchannel=1).
func requiresBackchannel(req *base.Request) bool {
	for _, v := range req.Header["Require"] {
		if strings.Contains(v, onvifBackchannel) {
			return true
		}
	}
	return false
}

// talkQueue bounds what a talker may send before the camera's backchannel
// is set up (a second or more when the camera session restarts for it):
// 256 packets are 5 s of 20 ms audio.
const talkQueue = 256

// rtspTalk carries what one RTSP reader sends on the backchannel media to
// the stream's sink: it holds the packets until the camera has answered the
// backchannel's PLAY, then forwards them in order. One talker per camera: a
// newer one ends this one.
type rtspTalk struct {
	log     *slog.Logger
	pkts    chan talkPacket
	cancel  context.CancelFunc
	dropped atomic.Uint64
}

type talkPacket struct {
	f   format.Format
	pkt *rtp.Packet
}

// startTalk begins talking for the session's reader: packets on the
// backchannel media go to st's sink.
func startTalk(st *stream.Stream, ss *gortsplib.ServerSession, bc *description.Media, log *slog.Logger) *rtspTalk {
	ctx, cancel := context.WithCancel(context.Background())
	t := &rtspTalk{log: log, pkts: make(chan talkPacket, talkQueue), cancel: cancel}
	for _, f := range bc.Formats {
		ss.OnPacketRTP(bc, f, func(pkt *rtp.Packet) {
			// gortsplib reuses its buffers: keep a copy
			cp := &rtp.Packet{Header: pkt.Header.Clone(), Payload: bytes.Clone(pkt.Payload)}
			select {
			case t.pkts <- talkPacket{f, cp}:
			default:
				st.CountDrop("talk packet dropped")
				if t.dropped.Add(1) == 1 {
					log.Warn("talk packets dropped: the camera's backchannel is not taking them")
				}
			}
		})
	}
	go t.run(ctx, st)
	return t
}

func (t *rtspTalk) run(ctx context.Context, st *stream.Stream) {
	sp, err := st.Talk(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("cannot talk to the camera", "err", err)
		}
		return
	}
	defer sp.Close()
	t.log.Info("talking to the camera", "codecs", formatsString(sp.Formats()))
	for {
		select {
		case <-ctx.Done():
			return
		case <-sp.Done():
			if errors.Is(sp.Err(), stream.ErrReplaced) {
				t.log.Info("talk ended: another talker took over")
			} else {
				t.log.Info("talk ended", "reason", sp.Err())
			}
			return
		case p := <-t.pkts:
			if err := sp.WritePacket(p.f, p.pkt); err != nil {
				t.log.Info("talk ended", "reason", err)
				return
			}
		}
	}
}

func (t *rtspTalk) stop() { t.cancel() }

func formatsString(fs []format.Format) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.RTPMap())
	}
	return strings.Join(parts, ", ")
}
