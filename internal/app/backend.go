package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/rtspgate/rtspgate/internal/api"
	"github.com/rtspgate/rtspgate/internal/rtspserver"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/talk"
)

// probeWait bounds how long a probe waits for a stream's sources.
const probeWait = 10 * time.Second

// backend is what the HTTP API asks of the streams: the probe and
// talking from a file or URL.
type backend struct {
	reg   *stream.Registry
	talks *talk.Manager
	rtsp  *rtspserver.Server // nil without an RTSP server
}

// List describes every stream as it is now.
func (b *backend) List(ctx context.Context) ([]*api.StreamInfo, error) {
	var out []*api.StreamInfo
	for _, st := range b.reg.Streams() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out = append(out, b.describe(st))
	}
	return out, nil
}

// Probe connects the stream's sources if needed and describes them.
func (b *backend) Probe(ctx context.Context, name string) (*api.StreamInfo, error) {
	st := b.reg.Get(name)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", api.ErrNotFound, name)
	}
	release := st.Acquire()
	defer release()
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	_, _ = st.WaitTracks(ctx) // a source that cannot connect shows in its state
	info := b.describe(st)
	return info, nil
}

// describe is what the API shows of st: its producers with their tracks,
// sinks and health, and its readers.
func (b *backend) describe(st *stream.Stream) *api.StreamInfo {
	stats := st.Stats()
	info := &api.StreamInfo{Name: st.Name, Producers: []api.Producer{}, Consumers: []api.Consumer{},
		BytesIn: stats.BytesIn, PacketsIn: stats.PacketsIn, Drops: stats.Drops}
	for _, p := range st.Producers() {
		ap := api.Producer{
			URL: p.Source, State: string(p.State), Since: p.Since, Reconnects: p.Reconnects,
			LastError: inWords(p.LastError), Backchannel: p.SinkNote,
			Lost: p.Lost, JitterMS: p.JitterMS, Quirks: p.Quirks,
		}
		for _, t := range p.Tracks {
			ap.Medias = append(ap.Medias, api.Media{Kind: string(t.Kind), Direction: "recvonly", Codecs: []string{codecName(t.Codec(), t.Format())}})
		}
		for _, sk := range p.Sinks {
			m := api.Media{Kind: string(sk.Kind), Direction: "sendonly"}
			for _, f := range sk.Formats {
				m.Codecs = append(m.Codecs, codecName(stream.CodecName(f), f))
			}
			ap.Medias = append(ap.Medias, m)
		}
		info.Producers = append(info.Producers, ap)
	}
	if b.rtsp != nil {
		for _, c := range b.rtsp.Consumers(st) {
			info.Consumers = append(info.Consumers, api.Consumer{
				FormatName: "rtsp", Protocol: c.Protocol, RemoteAddr: c.RemoteAddr,
				Since: c.Since, BytesSent: c.BytesSent, PacketsSent: c.PacketsSent,
			})
		}
	}
	return info
}

// inWords turns a source's error into what a person can act on, keeping the
// detail after it.
func inWords(err string) string {
	if err == "" {
		return ""
	}
	for _, w := range []struct{ has, words string }{
		{"401", "the camera refused the login"},
		{"403", "the camera refused access"},
		{"404", "the camera has no such path"},
		{"busy:", "the camera is busy (at its session limit)"},
		{"certificate is not trusted", "the camera's TLS certificate is not trusted"},
		{"connection refused", "nothing answers at the camera's address"},
		{"no route to host", "the camera's address cannot be reached"},
		{"no such host", "the camera's host name is not known"},
		{"no answer", "the camera did not answer in time"},
		{"i/o timeout", "the camera sent no data in time"},
		{"upgrade refused", "the WebSocket login was refused"},
		{"publisher left", "the publisher left"},
		{"no usable media", "the camera offers nothing we can use"},
	} {
		if strings.Contains(err, w.has) {
			return w.words + ": " + err
		}
	}
	return err
}

func codecName(name string, f format.Format) string {
	channels := 0
	if g, ok := f.(*format.G711); ok && g.ChannelCount > 1 {
		channels = g.ChannelCount
	}
	return api.CodecName(name, f.ClockRate(), channels)
}

// Talk plays src into the backchannel of stream name; "" stops.
func (b *backend) Talk(ctx context.Context, name, src string) error {
	st := b.reg.Get(name)
	if st == nil {
		return fmt.Errorf("%w: %q", api.ErrNotFound, name)
	}
	if src == "" {
		b.talks.Stop(name)
		return nil
	}
	if !strings.HasPrefix(src, "ffmpeg:") {
		return fmt.Errorf("%w: only ffmpeg: sources can be played into a backchannel, e.g. ffmpeg:/path/song.mp3#audio=pcma#input=file", api.ErrBadSource)
	}
	err := b.talks.Play(ctx, st, src)
	switch {
	case errors.Is(err, stream.ErrNoSink):
		return fmt.Errorf("%w: %v", api.ErrNoBackchannel, err)
	case errors.Is(err, talk.ErrBadSource):
		return fmt.Errorf("%w: %v", api.ErrBadSource, err)
	}
	return err
}
