package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/pion/rtp"
)

const (
	g711Chunk  = 160                   // bytes in 20 ms at 8 kHz, one byte a sample
	g711Period = 20 * time.Millisecond // one packet of g711Chunk
	// g711Backlog is how many chunks may wait ahead of the clock (200 ms).
	// When it is full we stop reading, so ffmpeg blocks on the pipe: a
	// burst is delayed, never dropped and never sent early.
	g711Backlog = 10
)

// G711RTP reads raw G.711 (8 kHz, one byte a sample) from r in 160-byte
// chunks and calls write with one RTP packet each 20 ms: version 2,
// payloadType, a random SSRC, sequence numbers counting up by one and
// timestamps by 160 per 20 ms. A ticker paces it, so input that arrives
// in bursts or faster than real time still leaves in real time, with at
// most 200 ms read ahead. A tick with nothing to send is skipped: the
// next packet's timestamp counts that gap and it has the marker bit. A
// short last chunk is sent as it is.
//
// It returns nil at the end of r (io.EOF, or os.ErrClosed after
// Process.Stop) once the read-ahead is sent, ctx.Err() when ctx ends, or
// the error of r or write. A Read in progress on return finishes in the
// background; closing r ends it.
func G711RTP(ctx context.Context, r io.Reader, payloadType uint8, write func(*rtp.Packet) error) error {
	if payloadType > 127 {
		return fmt.Errorf("g711: payload type %d is over 127", payloadType)
	}
	chunks := make(chan []byte, g711Backlog)
	quit := make(chan struct{})
	defer close(quit)
	var readErr error // written before chunks is closed
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, g711Chunk) // write may keep the payload
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-quit:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, os.ErrClosed) {
					readErr = err
				}
				return
			}
		}
	}()

	// The clock starts with the first chunk, so that ffmpeg's start-up
	// time is not taken for a gap.
	var chunk []byte
	var ok bool
	select {
	case <-ctx.Done():
		return ctx.Err()
	case chunk, ok = <-chunks:
	}
	if !ok {
		return readErr
	}
	ssrc, seq, ts0 := rand.Uint32(), uint16(rand.Uint32()), rand.Uint32()
	var tick uint32 // ticks since the first packet
	gap := true     // the first packet starts a talkspurt
	send := func(payload []byte) error {
		p := &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         gap,
				PayloadType:    payloadType,
				SequenceNumber: seq,
				Timestamp:      ts0 + tick*g711Chunk,
				SSRC:           ssrc,
			},
			Payload: payload,
		}
		seq++
		gap = false
		return write(p)
	}
	if err := send(chunk); err != nil {
		return err
	}
	ticker := time.NewTicker(g711Period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
		tick++
		select {
		case chunk, ok = <-chunks:
			if !ok {
				return readErr
			}
			if err := send(chunk); err != nil {
				return err
			}
		default:
			gap = true
		}
	}
}
