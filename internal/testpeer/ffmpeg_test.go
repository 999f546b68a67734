package testpeer

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTestClip(t *testing.T) {
	t.Parallel()
	start := time.Now()
	path := TestClip(t, 2)
	t.Logf("clip %s in %v", path, time.Since(start))
	if again := TestClip(t, 2); again != path {
		t.Errorf("second TestClip = %q, want cached %q", again, path)
	}
	streams, err := FFprobe(t.Context(), path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 2 ||
		streams[0].CodecName != "h264" || streams[0].Width != 320 || streams[0].Height != 240 ||
		streams[1].CodecName != "aac" || streams[1].SampleRate != "48000" {
		t.Errorf("clip streams = %+v, want h264 320x240 + aac 48000", streams)
	}
}

// TestPublish checks that Publish's ffmpeg announces the clip to an RTSP
// server: a fake one that answers OPTIONS and reads the ANNOUNCE.
func TestPublish(t *testing.T) {
	t.Parallel()
	clip := TestClip(t, 2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	url := "rtsp://" + l.Addr().String() + "/push"

	p := Publish(t, clip, url, true)

	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := l.Accept()
	if err != nil {
		t.Fatalf("ffmpeg did not connect: %v; stderr:\n%s", err, p.Stderr())
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewReader(bufio.NewReader(conn))
	var sdp string
	for sdp == "" {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("read request: %v", err)
		}
		method, _, _ := strings.Cut(line, " ")
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("read headers: %v", err)
		}
		switch method {
		case "OPTIONS":
			_, _ = io.WriteString(conn, "RTSP/1.0 200 OK\r\nCSeq: "+hdr.Get("Cseq")+
				"\r\nPublic: OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN\r\n\r\n")
		case "ANNOUNCE":
			n, _ := strconv.Atoi(hdr.Get("Content-Length"))
			body := make([]byte, n)
			if _, err := io.ReadFull(tp.R, body); err != nil {
				t.Fatalf("read ANNOUNCE body: %v", err)
			}
			sdp = string(body)
		default:
			t.Fatalf("unexpected request %q", line)
		}
	}
	if !strings.Contains(sdp, "H264/90000") || !strings.Contains(strings.ToLower(sdp), "mpeg4-generic/48000") {
		t.Errorf("ANNOUNCE SDP lacks H264 or AAC:\n%s", sdp)
	}
	conn.Close()

	select {
	case <-p.Done():
		if p.Err() == nil {
			t.Errorf("ffmpeg exited 0 after the server hung up")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("ffmpeg still runs after the server hung up")
	}
	p.Stop()
	p.Stop()
}

// TestPublishStop checks that Stop ends a looping publisher that is still
// connected.
func TestPublishStop(t *testing.T) {
	t.Parallel()
	clip := TestClip(t, 2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := Publish(t, clip, "rtsp://"+l.Addr().String()+"/push", true)
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	p.Stop() // ffmpeg waits for the OPTIONS reply: SIGTERM must end it
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Stop took %v", d)
	}
	select {
	case <-p.Done():
	default:
		t.Errorf("not done after Stop")
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	port := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("FreePort %d is not free: %v", port, err)
	}
	l.Close()
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(8)
	_, _ = b.Write([]byte("0123456789"))
	_, _ = b.Write([]byte("ab"))
	if got, want := b.String(), "[…]456789ab"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

// TestDecodeErrors: ffmpeg folds a repeated line into "Last message repeated
// N times"; after the harmless DTS warning that is harmless too, after a
// real error it is kept.
func TestDecodeErrors(t *testing.T) {
	stderr := `[null @ 0x55d0] Application provided invalid, non monotonically increasing dts to muxer in stream 0: 5 >= 5
    Last message repeated 1 times
[h264 @ 0x55d1] error while decoding MB 3 4
    Last message repeated 2 times

`
	got := decodeErrors(stderr)
	want := []string{"[h264 @ 0x55d1] error while decoding MB 3 4", "Last message repeated 2 times"}
	if !slices.Equal(got, want) {
		t.Errorf("decodeErrors = %q, want %q", got, want)
	}
}
