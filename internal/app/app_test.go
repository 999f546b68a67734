package app

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/rtspgate/rtspgate/internal/config"
)

// TestSourceErrorsNameFileLineAndKey: source kinds check their sources once,
// at start-up, and a mistake stops it with the file, line and key, never a
// password.
func TestSourceErrorsNameFileLineAndKey(t *testing.T) {
	for _, c := range []struct{ name, yml, want string }{
		{"unknown option", "streams:\n  cam:\n    - rtsp://u:s3cret@h/live#foo=1\n", "config.yaml:3: streams.cam: unknown option #foo; rtsp sources accept #timeout, #media, #backchannel, #transport"},
		{"option twice", "streams:\n  cam: rtsp://u:s3cret@h/live#timeout=1#timeout=2\n", "config.yaml:2: streams.cam: option #timeout given twice"},
		{"timeout word", "streams:\n  cam: rtsp://u:s3cret@h/live#timeout=abc\n", `config.yaml:2: streams.cam: #timeout: want a whole number of seconds from 1 to 86400, got "abc"`},
		{"timeout zero", "streams:\n  cam: rtsp://u:s3cret@h/live#timeout=0\n", `config.yaml:2: streams.cam: #timeout: want a whole number of seconds from 1 to 86400, got "0"`},
		{"timeout too long", "streams:\n  cam: rtsp://u:s3cret@h/live#timeout=86401\n", `config.yaml:2: streams.cam: #timeout: want a whole number of seconds from 1 to 86400, got "86401"`},
		{"media", "streams:\n  cam: rtsp://u:s3cret@h/live#media=both\n", `config.yaml:2: streams.cam: #media: want video or audio, got "both"`},
		{"backchannel", "streams:\n  cam: rtsp://u:s3cret@h/live#backchannel\n", "config.yaml:2: streams.cam: #backchannel: want 0 or 1, got nothing"},
		{"transport word", "streams:\n  cam: rtsp://u:s3cret@h/live#transport=quic\n", `config.yaml:2: streams.cam: #transport: want udp, tcp or a ws:// or wss:// URL, got "quic"`},
		{"transport http", "streams:\n  cam: rtsp://h/live#transport=http://u:s3cret@h/ws\n", "config.yaml:2: streams.cam: #transport: want udp, tcp or a ws:// or wss:// URL, got another kind of URL"},
		{"transport no host", "streams:\n  cam: rtsp://h/live#transport=ws://u:s3cret@/ws\n", "config.yaml:2: streams.cam: #transport has no host"},
		{"numeric password hash", "streams:\n  cam: rtsp://u:1234#s3cret@h/live\n", "config.yaml:2: streams.cam: an unknown option (not shown"},
		{"scheme http", "streams:\n  cam: http://u:s3cret@h/snap.jpg\n", `config.yaml:2: streams.cam: unsupported scheme "http"; accepted: `},
		{"scheme exec", "streams:\n  cam: exec:ffmpeg -i x\n", `config.yaml:2: streams.cam: unsupported scheme "exec"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("config.yaml", []byte(c.yml), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			cfg.RTSP.Listen, cfg.API.Listen = "", ""
			a, err := Start(cfg, Options{}, slog.New(slog.DiscardHandler))
			if err == nil {
				a.Close()
				t.Fatal("started")
			}
			if !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error\n  %v\nwant it to start with\n  %s\nand hold no password", err, c.want)
			}
		})
	}
}

// TestOnListenHost: a UDP address without a host takes rtsp.listen's, so a
// server on loopback keeps its UDP on loopback too.
func TestOnListenHost(t *testing.T) {
	for _, c := range []struct{ addr, listen, want string }{
		{":8000", "127.0.0.1:8554", "127.0.0.1:8000"},
		{":8000", ":8554", ":8000"},
		{":8000", "[::1]:8554", "[::1]:8000"},
		{"192.168.1.2:8000", "127.0.0.1:8554", "192.168.1.2:8000"},
		{"", "127.0.0.1:8554", ""},
	} {
		if got := onListenHost(c.addr, c.listen); got != c.want {
			t.Errorf("onListenHost(%q, %q) = %q, want %q", c.addr, c.listen, got, c.want)
		}
	}
}
