package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

const (
	audioPacketsPerSecond = 50
	audioPacketBytes      = 160  // 20 ms of 8 kHz G.711
	pcmaSilence           = 0xD5 // A-law code of 0
)

// Publisher loops an input to an RTSP server with ANNOUNCE/RECORD over TCP,
// one access unit every 1/FPS s, each stamped with an SEI (see BuildSEI).
type Publisher struct {
	// URL is where to publish (credentials allowed).
	URL string
	// Input is looped from its first access unit.
	Input *Input
	// FPS is the frame rate; 30 if 0.
	FPS int
	// Audio adds a PCMA (G.711 A-law) track: 50 packets/s of 160 bytes.
	Audio bool
	// BusyWait is how long Start goes on trying while the server answers
	// that the path already has a publisher; 3 s if 0. A server releases a
	// publisher's session a moment after its connection closes, so a rig
	// that publishes again right after (one row after another) meets it.
	BusyWait time.Duration
	// Waited is how long Start waited for the path, set by Start.
	Waited time.Duration

	client   *gortsplib.Client
	desc     *description.Session
	videoEnc *rtph264.Encoder

	mu     sync.Mutex
	frames []sentFrame
	errs   int64
}

// sentFrame is the record of one access unit sent; its index is its counter.
type sentFrame struct {
	sendNanos int64
	bytes     int
}

// Start connects and runs ANNOUNCE, SETUP and RECORD.
func (p *Publisher) Start() error {
	if p.FPS == 0 {
		p.FPS = 30
	}
	if p.FPS < 1 || p.FPS > 240 {
		return fmt.Errorf("fps %d: want 1..240", p.FPS)
	}
	video := &format.H264{
		PayloadTyp:        96,
		PacketizationMode: 1,
		SPS:               p.Input.SPS,
		PPS:               p.Input.PPS,
	}
	p.desc = &description.Session{
		Medias: []*description.Media{{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{video},
		}},
	}
	if p.Audio {
		p.desc.Medias = append(p.desc.Medias, &description.Media{
			Type:    description.MediaTypeAudio,
			Formats: []format.Format{&format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}},
		})
	}
	enc, err := video.CreateEncoder()
	if err != nil {
		return err
	}
	p.videoEnc = enc

	wait := p.BusyWait
	if wait == 0 {
		wait = 3 * time.Second
	}
	start := time.Now()
	for {
		err := p.record()
		if err == nil || !publisherBusy(err) || time.Since(start) > wait {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		p.Waited = time.Since(start)
	}
}

func (p *Publisher) record() error {
	tcp := gortsplib.ProtocolTCP
	p.client = &gortsplib.Client{
		Protocol:       &tcp,
		UserAgent:      readerUserAgent,
		WriteQueueSize: 4096, // a 1080p keyframe is ~100 packets
	}
	if err := p.client.StartRecording(p.URL, p.desc); err != nil {
		p.client = nil
		return fmt.Errorf("publish %s: %w", p.URL, err)
	}
	return nil
}

// publisherBusy tells whether err is a server's answer that the path has a
// publisher already: 409 from rtspgate, 503 from gortsplib-based servers
// such as the tests' one.
func publisherBusy(err error) bool {
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) {
		return false
	}
	switch bad.Code {
	case 409, 503:
		return true
	}
	return false
}

// Close disconnects.
func (p *Publisher) Close() {
	if p.client != nil {
		p.client.Close()
	}
}

// Run sends access units until ctx ends or the connection fails. Frame n is
// sent at start + n/FPS (late frames are sent at once, never skipped), with
// RTP timestamp n*90000/FPS from a random base.
func (p *Publisher) Run(ctx context.Context) error {
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.Audio {
		wg.Go(func() { p.runAudio(ctx, start) })
	}

	tsBase := uint32(start.UnixNano())
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n := int64(0); ; n++ {
		due := start.Add(time.Duration(n * int64(time.Second) / int64(p.FPS)))
		if !waitUntil(ctx, timer, due) {
			return nil
		}
		au := p.Input.AUs[int(n)%len(p.Input.AUs)]
		ts := tsBase + uint32(n*90000/int64(p.FPS))
		if err := p.sendFrame(uint64(n), au, ts); err != nil {
			return err
		}
	}
}

func (p *Publisher) sendFrame(counter uint64, au [][]byte, ts uint32) error {
	pkts, sent, err := stampFrame(p.videoEnc, counter, au, time.Now())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.frames = append(p.frames, sent)
	p.mu.Unlock()

	for _, pkt := range pkts {
		pkt.Timestamp = ts
		if err := p.client.WritePacketRTP(p.desc.Medias[0], pkt); err != nil {
			if !isQueueFull(err) {
				return fmt.Errorf("publish: %w", err)
			}
			p.mu.Lock()
			p.errs++
			p.mu.Unlock()
		}
	}
	return nil
}

func isQueueFull(err error) bool {
	var qf liberrors.ErrClientWriteQueueFull
	return errors.As(err, &qf)
}

func (p *Publisher) runAudio(ctx context.Context, start time.Time) {
	medi := p.desc.Medias[1]
	payload := bytes.Repeat([]byte{pcmaSilence}, audioPacketBytes)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8}, Payload: payload}
	seq := uint16(start.UnixNano())
	tsBase := uint32(start.UnixNano() >> 8)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n := int64(0); ; n++ {
		due := start.Add(time.Duration(n * int64(time.Second) / audioPacketsPerSecond))
		if !waitUntil(ctx, timer, due) {
			return
		}
		pkt.SequenceNumber = seq + uint16(n)
		pkt.Timestamp = tsBase + uint32(n*audioPacketBytes)
		if err := p.client.WritePacketRTP(medi, pkt); err != nil {
			if !isQueueFull(err) {
				return // the video loop sees the same error and reports it
			}
			p.mu.Lock()
			p.errs++
			p.mu.Unlock()
		}
	}
}

// sent returns a copy of the records of the frames sent so far and the
// number of packets (video and audio) the client's queue refused.
func (p *Publisher) sent() ([]sentFrame, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]sentFrame(nil), p.frames...), p.errs
}

// waitUntil sleeps on timer (stopped and drained) until due; false when ctx
// ended first. A time already past returns at once, so a late frame goes
// out now and is never skipped.
func waitUntil(ctx context.Context, timer *time.Timer, due time.Time) bool {
	if d := time.Until(due); d > 0 {
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
	return ctx.Err() == nil
}

// stampFrame marks an access unit with its counter and send time at (the
// SEI the readers look for) and packetizes it with enc; it returns the
// packets and the frame as sent.
func stampFrame(enc *rtph264.Encoder, counter uint64, au [][]byte, at time.Time) ([]*rtp.Packet, sentFrame, error) {
	withSEI := InsertSEI(au, BuildSEI(Stamp{Counter: counter, SendNanos: at.UnixNano()}))
	pkts, err := enc.Encode(withSEI)
	if err != nil {
		return nil, sentFrame{}, err
	}
	size := 0
	for _, nalu := range withSEI {
		size += len(nalu)
	}
	return pkts, sentFrame{sendNanos: at.UnixNano(), bytes: size}, nil
}
