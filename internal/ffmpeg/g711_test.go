package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pion/rtp"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func TestG711RTPPacketsAndPacing(t *testing.T) {
	t.Parallel()
	data := make([]byte, 50*g711Chunk+50) // 1 s and a short last chunk, all at once
	for i := range data {
		data[i] = byte(i)
	}
	cr := &countingReader{r: bytes.NewReader(data)}
	var pkts []*rtp.Packet
	var sent int64
	var maxAhead int64
	start := time.Now()
	err := G711RTP(context.Background(), cr, 8, func(p *rtp.Packet) error {
		pkts = append(pkts, p)
		sent += int64(len(p.Payload))
		maxAhead = max(maxAhead, cr.n.Load()-sent)
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 51 {
		t.Fatalf("%d packets, want 51", len(pkts))
	}
	// 51 packets are 50 ticks apart: a burst must not leave faster.
	if elapsed < 950*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("took %v, want about 1 s", elapsed)
	}
	if limit := int64(g711Backlog+2) * g711Chunk; maxAhead > limit {
		t.Errorf("read %d bytes ahead of what was sent, want at most %d", maxAhead, limit)
	}
	var got []byte
	for i, p := range pkts {
		got = append(got, p.Payload...)
		if p.Version != 2 || p.PayloadType != 8 || p.SSRC != pkts[0].SSRC {
			t.Fatalf("packet %d header %+v", i, p.Header)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d marker %v", i, p.Marker)
		}
		if i > 0 {
			q := pkts[i-1]
			if p.SequenceNumber != q.SequenceNumber+1 || p.Timestamp != q.Timestamp+g711Chunk {
				t.Errorf("packet %d seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, q.SequenceNumber, q.Timestamp)
			}
		}
	}
	if !bytes.Equal(got, data) {
		t.Error("payloads differ from the input")
	}
	if n := len(pkts[50].Payload); n != 50 {
		t.Errorf("last payload %d bytes, want 50", n)
	}
}

// pausingReader gives chunks, then stalls once.
type pausingReader struct {
	chunks int
	pause  time.Duration
	n      int
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.n == p.chunks*2 {
		return 0, io.EOF
	}
	if p.n == p.chunks {
		time.Sleep(p.pause)
	}
	p.n++
	return copy(b, make([]byte, g711Chunk)), nil
}

func TestG711RTPGap(t *testing.T) {
	t.Parallel()
	var pkts []*rtp.Packet
	err := G711RTP(context.Background(), &pausingReader{chunks: 5, pause: 150 * time.Millisecond}, 0, func(p *rtp.Packet) error {
		pkts = append(pkts, p)
		return nil
	})
	if err != nil || len(pkts) != 10 {
		t.Fatalf("err %v, %d packets", err, len(pkts))
	}
	p, q := pkts[5], pkts[4]
	if !p.Marker || p.Timestamp-q.Timestamp < 3*g711Chunk || p.SequenceNumber != q.SequenceNumber+1 {
		t.Errorf("after a 150 ms stall: marker %v, ts +%d, seq +%d", p.Marker, p.Timestamp-q.Timestamp, p.SequenceNumber-q.SequenceNumber)
	}
}

func TestG711RTPEnds(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- G711RTP(ctx, pr, 0, func(*rtp.Packet) error { return nil }) }()
	if _, err := pw.Write(make([]byte, 3*g711Chunk)); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("G711RTP did not return after cancel")
	}

	boom := errors.New("boom")
	err := G711RTP(context.Background(), bytes.NewReader(make([]byte, 500)), 0, func(*rtp.Packet) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("write error: %v", err)
	}
	err = G711RTP(context.Background(), iotest.ErrReader(boom), 0, func(*rtp.Packet) error { return nil })
	if !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	if err := G711RTP(context.Background(), bytes.NewReader(nil), 0, nil); err != nil {
		t.Errorf("empty input: %v", err)
	}
	if err := G711RTP(context.Background(), bytes.NewReader(nil), 128, nil); err == nil {
		t.Error("payload type 128 accepted")
	}
}
