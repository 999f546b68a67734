package rtsp

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/rtspgate/rtspgate/internal/stream"
)

// speaker is the one talker of a camera: it writes into the backchannel of
// the camera session. gortsplib sets the SSRC our SETUP announced; we set the
// camera's payload type and number the packets ourselves, so talkers that
// replace each other form one continuous stream for the camera.
type speaker struct {
	up   *upstream
	done chan struct{}

	mu      sync.Mutex
	err     error
	ended   bool
	client  *gortsplib.Client
	media   *description.Media
	formats []format.Format
	seq     uint16
	// timestamps continue too: a talker's own timestamps are moved so its
	// first packet follows the last one sent by the time that passed
	// (cameras' depayloaders may stop on a jump)
	tsSet    bool
	tsOffset uint32
	lastTS   uint32
	lastAt   time.Time
	fresh    bool // no packet of this talker yet
}

// talk makes sp the camera's talker, replacing the previous one, and waits
// until the session has the backchannel set up (restarting the session if
// it runs without), or ctx ends.
func (up *upstream) talk(ctx context.Context) (stream.Speaker, error) {
	sp := &speaker{up: up, done: make(chan struct{}), seq: uint16(rand.Uint32()), fresh: true}
	up.mu.Lock()
	if old := up.speaker; old != nil {
		old.finish(stream.ErrReplaced)
		// the backchannel stays set up: take over its numbering
		old.mu.Lock()
		sp.seq = old.seq
		sp.tsSet, sp.lastTS, sp.lastAt = old.tsSet, old.lastTS, old.lastAt
		old.mu.Unlock()
	}
	up.speaker = sp
	switch {
	case up.sess == nil:
		up.startLocked()
	case up.sess.online && up.sess.bc == nil && up.sess.bcNote == "" && len(up.sess.sinks) > 0:
		up.log.Info("setting up the backchannel for a talker: restarting the camera session")
		up.sess.restart = true
		up.sess.cancel()
	}
	up.mu.Unlock()

	for {
		up.mu.Lock()
		sess := up.sess
		up.mu.Unlock()
		if sess == nil {
			sp.Close()
			return nil, errors.Join(sp.Err(), errors.New("camera session ended"))
		}
		select {
		case <-sess.ready:
		case <-sess.done:
			continue // a restart: wait for the next one
		case <-sp.done:
			return nil, sp.Err()
		case <-ctx.Done():
			sp.Close()
			return nil, ctx.Err()
		}
		up.mu.Lock()
		if up.sess != sess || sess.restart {
			up.mu.Unlock()
			continue
		}
		if sess.bc == nil {
			note := sess.bcNote
			up.mu.Unlock()
			sp.Close()
			if note == "" {
				return nil, stream.ErrNoSink
			}
			return nil, errors.New(note)
		}
		sp.mu.Lock()
		sp.client, sp.media, sp.formats = sess.client, sess.bc, sess.bc.Formats
		sp.mu.Unlock()
		up.mu.Unlock()
		go func() {
			select {
			case <-sess.done:
				sp.finish(errors.New("camera session ended"))
			case <-sp.done:
			}
		}()
		return sp, nil
	}
}

func (sp *speaker) Formats() []format.Format {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.formats
}

func (sp *speaker) WritePacket(f format.Format, pkt *rtp.Packet) error {
	sp.mu.Lock()
	if sp.ended {
		err := sp.err
		sp.mu.Unlock()
		return err
	}
	c, m := sp.client, sp.media
	now := time.Now()
	if sp.fresh {
		sp.fresh = false
		next := pkt.Timestamp
		if sp.tsSet {
			ticks := uint32(max(now.Sub(sp.lastAt).Seconds()*float64(f.ClockRate()), 1))
			next = sp.lastTS + ticks
		}
		sp.tsOffset = next - pkt.Timestamp
	}
	pkt.PayloadType = f.PayloadType()
	pkt.SequenceNumber = sp.seq
	pkt.Timestamp += sp.tsOffset
	sp.seq++
	sp.tsSet, sp.lastTS, sp.lastAt = true, pkt.Timestamp, now
	sp.mu.Unlock()
	return c.WritePacketRTP(m, pkt)
}

func (sp *speaker) Done() <-chan struct{} { return sp.done }

func (sp *speaker) Err() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.err
}

// Close ends the talk; the camera session goes on while sources need it.
func (sp *speaker) Close() {
	up := sp.up
	up.mu.Lock()
	if up.speaker == sp {
		up.speaker = nil
		if len(up.subs) == 0 && up.sess != nil {
			up.sess.cancel()
		}
	}
	up.mu.Unlock()
	sp.finish(errors.New("talk closed"))
}

// finish ends sp with err, once.
func (sp *speaker) finish(err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.ended {
		return
	}
	sp.ended, sp.err = true, err
	close(sp.done)
}
