// Package demo is the built-in "demo:" source: an 8 s H.264 + A-law
// clip embedded in the binary, looped in real time with continuous
// timestamps, so rtspgate has something to show with no camera at hand.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// The clip is made by make-clip.sh.
var (
	//go:embed clip.h264
	clipH264 []byte
	//go:embed clip.alaw
	clipALaw []byte
)

const (
	fps          = 25
	videoClock   = 90000
	audioRate    = 8000
	audioPerPkt  = 160 // 20 ms of A-law
	audioPayload = 8
	videoPayload = 96
)

// Open is the stream.Opener of the "demo" scheme.
func Open(stream.SourceSpec) (stream.Source, error) {
	aus, sps, pps := accessUnits(clipH264)
	if len(aus) == 0 || sps == nil || pps == nil {
		return nil, errors.New("demo clip has no H.264 access units")
	}
	return &source{aus: aus, sps: sps, pps: pps}, nil
}

type source struct {
	aus      [][][]byte
	sps, pps []byte
}

// Run implements stream.Source.
func (s *source) Run(ctx context.Context, pub stream.Publisher) error {
	vf := &format.H264{PayloadTyp: videoPayload, PacketizationMode: 1, SPS: s.sps, PPS: s.pps}
	af := &format.G711{PayloadTyp: audioPayload, SampleRate: audioRate, ChannelCount: 1}
	tracks, err := pub.SetTracks([]stream.TrackSpec{
		{Kind: stream.Video, Format: vf},
		{Kind: stream.Audio, Format: af},
	})
	if err != nil {
		return err
	}
	enc, err := vf.CreateEncoder()
	if err != nil {
		return err
	}
	audioPkts := len(clipALaw) / audioPerPkt
	var aseq uint16
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for vi, ai := 0, 0; ; {
		tv := start.Add(time.Duration(vi) * time.Second / fps)
		ta := start.Add(time.Duration(ai) * audioPerPkt * time.Second / audioRate)
		next := tv
		if ta.Before(tv) {
			next = ta
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := time.Now()
		if !ta.After(tv) {
			off := (ai % audioPkts) * audioPerPkt
			pub.WritePacket(tracks[1], &rtp.Packet{
				Header: rtp.Header{
					Version:        2,
					PayloadType:    audioPayload,
					SequenceNumber: aseq,
					Timestamp:      uint32(ai * audioPerPkt),
				},
				Payload: clipALaw[off : off+audioPerPkt],
			}, now, time.Time{})
			aseq++
			ai++
			continue
		}
		pkts, err := enc.Encode(s.aus[vi%len(s.aus)])
		if err != nil {
			return err
		}
		for _, p := range pkts {
			p.Timestamp = uint32(vi * videoClock / fps)
			pub.WritePacket(tracks[0], p, now, time.Time{})
		}
		vi++
	}
}

// accessUnits splits an Annex-B stream with an AUD before every frame into
// access units (the AUDs dropped) and returns the first SPS and PPS.
func accessUnits(b []byte) (aus [][][]byte, sps, pps []byte) {
	var cur [][]byte
	for _, nalu := range splitAnnexB(b) {
		switch nalu[0] & 0x1f {
		case 9: // access unit delimiter: a new frame begins
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		case 7:
			if sps == nil {
				sps = nalu
			}
		case 8:
			if pps == nil {
				pps = nalu
			}
		}
		cur = append(cur, nalu)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus, sps, pps
}

func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = appendNALU(out, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		out = appendNALU(out, b[start:])
	}
	return out
}

// appendNALU drops the zero byte of a 4-byte start code that trails the
// previous unit.
func appendNALU(out [][]byte, n []byte) [][]byte {
	n = bytes.TrimRight(n, "\x00")
	if len(n) > 0 {
		out = append(out, n)
	}
	return out
}
