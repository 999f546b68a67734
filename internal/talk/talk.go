// Package talk plays a file or URL into a stream's backchannel: ffmpeg
// transcodes it to a G.711 codec the camera accepts, and the packets go to
// the stream's sink in real time. One playback per stream; a new one, or any
// other talker, replaces it.
package talk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/ffmpeg"
	"github.com/rtspgate/rtspgate/internal/stream"
)

// ErrBadSource: the source string cannot be played into a backchannel.
var ErrBadSource = errors.New("bad talk source")

// Manager runs the playbacks.
type Manager struct {
	runner *ffmpeg.Runner
	log    *slog.Logger

	mu     sync.Mutex
	plays  map[string]*playback // by stream name
	closed bool
	wg     sync.WaitGroup
}

type playback struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Manager that runs ffmpeg with runner.
func New(runner *ffmpeg.Runner, log *slog.Logger) *Manager {
	return &Manager{runner: runner, log: log, plays: map[string]*playback{}}
}

// Play starts playing src ("ffmpeg:INPUT#audio=pcmu|pcma|auto#input=…")
// into st's backchannel and returns once it plays, or why it cannot. ctx
// bounds only the start.
func (m *Manager) Play(ctx context.Context, st *stream.Stream, src string) error {
	spec, err := ffmpeg.Parse(src)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	m.Stop(st.Name)
	sp, err := st.Talk(ctx)
	if err != nil {
		return err
	}
	f, codec, err := pick(sp.Formats(), spec.Audio)
	if err != nil {
		sp.Close()
		return err
	}
	args, err := m.runner.AudioArgs(spec, codec)
	if err != nil {
		sp.Close()
		return fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	pctx, cancel := context.WithCancel(context.Background())
	proc, err := m.runner.Start(pctx, args)
	if err != nil {
		cancel()
		sp.Close()
		return err
	}
	pb := &playback{cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		cancel()
		proc.Stop()
		sp.Close()
		return errors.New("shutting down")
	}
	m.plays[st.Name] = pb
	m.wg.Add(1)
	m.mu.Unlock()
	log := m.log.With("stream", st.Name, "source", spec.Redacted(), "codec", codec)
	log.Info("playing into the backchannel")
	go func() {
		defer m.wg.Done()
		defer close(pb.done)
		stop := context.AfterFunc(pctx, sp.Close)
		defer stop()
		go func() {
			<-sp.Done() // replaced by another talker, or the camera went away
			cancel()
		}()
		err := ffmpeg.G711RTP(pctx, proc.Stdout(), f.PayloadType(), func(pkt *rtp.Packet) error {
			return sp.WritePacket(f, pkt)
		})
		ended := sp.Err() // why the speaker ended before the playback, or nil
		cancel()
		proc.Stop()
		perr := proc.Wait()
		sp.Close()
		switch {
		case perr != nil:
			log.Warn("playback into the backchannel failed", "err", perr)
		case errors.Is(ended, stream.ErrReplaced):
			log.Info("playback ended: another talker took over")
		case ended != nil:
			log.Info("playback ended: the camera's backchannel went away", "reason", ended)
		case err != nil && !errors.Is(err, context.Canceled):
			log.Info("playback ended", "reason", err)
		default:
			log.Info("playback ended")
		}
		m.mu.Lock()
		if m.plays[st.Name] == pb {
			delete(m.plays, st.Name)
		}
		m.mu.Unlock()
	}()
	return nil
}

// pick chooses the G.711 format to send: the one #audio names, or with
// #audio=auto (or none) the first the camera lists.
func pick(formats []format.Format, want []string) (format.Format, string, error) {
	choice := "auto"
	for _, a := range want {
		choice = strings.ToLower(a)
	}
	var offered []string
	for _, f := range formats {
		offered = append(offered, stream.CodecName(f))
		if codec := g711(f); codec != "" && (choice == "auto" || strings.EqualFold(choice, codec)) {
			return f, codec, nil
		}
	}
	return nil, "", fmt.Errorf("%w: the camera's backchannel takes %s; #audio=%s cannot be sent (pcmu, pcma or auto)", ErrBadSource, strings.Join(offered, ", "), choice)
}

// g711 is f's codec name, "PCMU" or "PCMA", when f is G.711 at 8 kHz, which
// is what a talker sends; "" otherwise.
func g711(f format.Format) string {
	if c := stream.CodecName(f); (c == "PCMU" || c == "PCMA") && f.ClockRate() == 8000 {
		return c
	}
	return ""
}

// Stop ends the playback into stream name, if any, and waits for it.
func (m *Manager) Stop(name string) {
	m.mu.Lock()
	pb := m.plays[name]
	delete(m.plays, name)
	m.mu.Unlock()
	if pb != nil {
		pb.cancel()
		<-pb.done
	}
}

// Close stops every playback and waits for their ffmpeg processes.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	plays := m.plays
	m.plays = map[string]*playback{}
	m.mu.Unlock()
	for _, pb := range plays {
		pb.cancel()
	}
	m.wg.Wait()
}
