package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestUnknownKeys: a key neither rtspgate nor the original knows is an error
// naming file, line and key, with the closest known key when one is close.
func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"rtsp typo", "rtsp:\n  listen: \":8554\"\n  listne: \":8555\"\n", "config.yaml:3: rtsp.listne: unknown key; did you mean rtsp.listen?"},
		{"top typo", "stream:\n  cam: rtsp://h/\n", "config.yaml:1: stream: unknown key; did you mean streams?"},
		{"top case", "Streams:\n  cam: rtsp://h/\n", "config.yaml:1: Streams: unknown key; did you mean streams?"},
		{"log typo", "log:\n  levle: debug\n", "config.yaml:2: log.levle: unknown key; did you mean log.level?"},
		{"log module typo", "log:\n  webrtcc: debug\n", "config.yaml:2: log.webrtcc: unknown key; did you mean log.webrtc?"},
		{"api typo", "api:\n  orign: \"*\"\n", "config.yaml:2: api.orign: unknown key; did you mean api.origin?"},
		{"api not close", "api:\n  certificate: x\n", "config.yaml:2: api.certificate: unknown key; api takes listen, username, password, local_auth"},
		{"rtsp not close", "rtsp:\n  tls_listen: \":8322\"\n", "config.yaml:2: rtsp.tls_listen: unknown key; rtsp takes listen, username, password, default_query, pkt_size, rtp_address, rtcp_address, gop_cache"},
		{"top not close", "cameras:\n  a: 1\n", "config.yaml:1: cameras: unknown key; rtspgate reads streams, rtsp, api, log, ffmpeg and accepts the other sections of go2rtc (app, env,"},
		{"original section", "webrtc:\n  lisen: \":8555\"\n", "config.yaml:2: webrtc.lisen: unknown key; did you mean webrtc.listen?"},
		{"nested", "webrtc:\n  filters:\n    loopbak: true\n", "config.yaml:3: webrtc.filters.loopbak: unknown key; did you mean webrtc.filters.loopback?"},
		{"per name", "homekit:\n  cam1:\n    pin: 12345678\n    pairing: []\n", "config.yaml:4: homekit.cam1.pairing: unknown key; did you mean homekit.cam1.pairings?"},
		{"shares", "webtorrent:\n  shares:\n    s:\n      pw: x\n", "config.yaml:4: webtorrent.shares.s.pw: unknown key; did you mean webtorrent.shares.s.pwd?"},
		{"twice in original", "webrtc:\n  listen: a\n  listen: b\n", "config.yaml:3: webrtc.listen: given twice, at lines 2 and 3"},
		{"URL as key", "rtsp:\n  rtsp://admin:s3cret@h/x: 1\n", "config.yaml:2: rtsp.(a key not shown): unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tc.yml), env(nil))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant it to start with\n  %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line == 0 || ce.Key == "" {
				t.Errorf("not a *Error with line and key: %#v", err)
			}
		})
	}
}

// originalConfig uses every section of the original's config, with keys
// rtspgate does not read; it must load.
const originalConfig = `app:
  modules: [api, rtsp, webrtc]
env:
  ANY_NAME: value
api:
  listen: ":1984"
  username: admin
  password: pass
  local_auth: true
  base_path: /rtc
  static_dir: www
  origin: "*"
  tls_listen: ":443"
  tls_cert: cert
  tls_key: key
  unix_listen: /tmp/go2rtc.sock
  allow_paths: [/api]
rtsp:
  listen: ":8554"
  username: admin
  password: pass
  default_query: video&audio
  pkt_size: 1200
log:
  level: debug
  format: text
  output: stdout
  time: UNIXMS
  rtsp: trace
  my_future_module: debug
ffmpeg:
  bin: ffmpeg
  global: "-hide_banner"
  timeout: 5
  mycodec: "-c:v libx264"
streams:
  cam: rtsp://h/
publish:
  cam: [rtmp://example/live]
preload:
  cam: video&audio
webrtc:
  listen: ":8555/tcp"
  candidates: [192.168.1.2:8555, stun:8555]
  ice_servers:
    - urls: [stun:stun.l.google.com:19302]
      username: u
      credential: c
  filters:
    candidates: [192.168.1.123]
    loopback: true
    interfaces: [eno1]
    ips: [192.168.1.123]
    networks: [udp4, tcp4]
    udp_ports: [50000, 50100]
rtmp:
  listen: ":1935"
srtp:
  listen: ":8443"
hass:
  config: /config
homekit:
  cam:
    pin: 12345678
    name: Camera
    device_id: cam1
    device_private: key
    category_id: "17"
    pairings: []
webtorrent:
  trackers: [wss://tracker]
  shares:
    share1:
      pwd: secret
      src: cam
ngrok:
  command: ngrok start --all
pinggy:
  tunnel: tcp://localhost:8554
echo:
  allow_paths: [echo]
exec:
  allow_paths: [ffmpeg]
wyoming:
  satellite:
    listen: ":10700"
    name: kitchen
    mode: wake
    event:
      any-event: echo
    wake_uri: tcp://host:10400
    vad_threshold: 0.5
wyze:
  account@example.com:
    api_key: k
    api_id: i
    password: p
xiaomi:
  "1234": token
secrets:
  any: {thing: 1}
`

func TestOriginalKeysAccepted(t *testing.T) {
	cfg := mustParse(t, originalConfig)
	want := []string{
		"app", "env",
		"api.local_auth", "api.base_path", "api.static_dir", "api.origin",
		"api.tls_listen", "api.tls_cert", "api.tls_key", "api.unix_listen", "api.allow_paths",
		"log.format", "log.output", "log.time", "log.rtsp", "log.my_future_module",
		"publish", "preload", "webrtc", "rtmp", "srtp", "hass", "homekit", "webtorrent", "ngrok", "pinggy",
		"echo", "exec", "wyoming", "wyze", "xiaomi", "secrets",
	}
	if !reflect.DeepEqual(cfg.Ignored, want) {
		t.Errorf("Ignored =\n  %q\nwant\n  %q", cfg.Ignored, want)
	}
	if cfg.RTSP.DefaultQuery != "video&audio" || cfg.RTSP.Username != "admin" {
		t.Errorf("RTSP = %+v", cfg.RTSP)
	}
	if want := (API{Listen: ":1984", Username: "admin", Password: "pass"}); cfg.API != want {
		t.Errorf("API = %+v, want %+v", cfg.API, want)
	}
}

func TestDefaultQuery(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  string // "" = accepted; else the error starts with this
	}{
		{"video&audio", ""},
		{"audio&video", ""},
		{"video=all&audio=all", ""},
		{"video=h264,h265", ""},
		{"VIDEO=H264&audio=pcma,pcmu", ""},
		{"mp4", ""},
		{"audio", ""},
		{"", ""},
		{"vidoe", `config.yaml:2: rtsp.default_query: "vidoe": unknown key "vidoe" (did you mean video?); a codec filter takes video, audio and mp4`},
		{"vidoe&audio", `config.yaml:2: rtsp.default_query: "vidoe&audio": unknown key "vidoe" (did you mean video?)`},
		{"video&backchannel=1", `config.yaml:2: rtsp.default_query: "video&backchannel=1": unknown key "backchannel"; a codec filter`},
		{"video=%zz", `config.yaml:2: rtsp.default_query: "video=%zz": invalid URL escape "%zz" (write '%' as %25)`},
		{"&", `config.yaml:2: rtsp.default_query: "&" picks no track`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			yml := "rtsp:\n  default_query: \"" + tc.query + "\"\n"
			cfg, err := Parse("config.yaml", []byte(yml), env(nil))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && cfg.RTSP.DefaultQuery != tc.query:
				t.Fatalf("DefaultQuery = %q", cfg.RTSP.DefaultQuery)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("error\n  %v\nwant it to start with\n  %s", err, tc.want)
			}
		})
	}
}

// TestCredentialPairs: username and password come together, in rtsp: and
// api:, also when they are set in different files; the error points at the
// key to fix and never shows the password.
func TestCredentialPairs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  string // "" = accepted; else the error, with FILE for the file's path
	}{
		{"both", []string{"rtsp:\n  username: admin\n  password: s3cret\napi:\n  username: a\n  password: s3cret\n"}, ""},
		{"neither", []string{"rtsp:\n  username: \"\"\n  password: \"\"\n"}, ""},
		{"rtsp username only", []string{"rtsp:\n  username: admin\n"},
			"0.yaml:2: rtsp.username: is set but rtsp.password is not: give both, or neither to turn authentication off"},
		{"rtsp password only", []string{"rtsp:\n  listen: \":8554\"\n  password: s3cret\n"},
			"0.yaml:3: rtsp.password: is set but rtsp.username is not"},
		{"rtsp empty password", []string{"rtsp:\n  username: admin\n  password: \"\"\n"},
			"0.yaml:3: rtsp.password: is empty but rtsp.username is set"},
		{"api username only", []string{"api:\n  username: admin\n"},
			"0.yaml:2: api.username: is set but api.password is not"},
		{"api empty username", []string{"api:\n  username:\n  password: s3cret\n"},
			"0.yaml:2: api.username: is empty but api.password is set"},
		{"split across files", []string{"rtsp:\n  username: admin\n", "rtsp:\n  password: s3cret\n"}, ""},
		{"emptied by a later file", []string{"rtsp:\n  username: admin\n  password: s3cret\n", "streams: {}\nrtsp:\n  password: \"\"\n"},
			"1.yaml:3: rtsp.password: is empty but rtsp.username is set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var paths []string
			for i, f := range tc.files {
				p := filepath.Join(dir, string(rune('0'+i))+".yaml")
				if err := os.WriteFile(p, []byte(f), 0o600); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			_, err := Load(paths, env(nil))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, tc.want)) {
				t.Fatalf("error\n  %v\nwant\n  %s", err, filepath.Join(dir, tc.want))
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	// Parse checks the same.
	if _, err := Parse("config.yaml", []byte("rtsp:\n  username: admin\n"), env(nil)); err == nil {
		t.Error("Parse accepted a username without a password")
	}
}

func TestBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{":8554", true},
		{"0.0.0.0:8554", true},
		{"[::]:8554", true},
		{"192.168.1.5:8554", true},
		{"10.0.0.1:0", true},
		{"[fe80::1%eth0]:8554", true},
		{"[2001:db8::1]:8554", true},
		{"camera-host:8554", true},
		{"not an address", true},
		{"127.0.0.1:8554", false},
		{"127.1.2.3:8554", false},
		{"[::1]:8554", false},
		{"[::ffff:127.0.0.1]:8554", false},
		{"localhost:8554", false},
		{"LOCALHOST:8554", false},
		{"app.localhost:8554", false},
	} {
		if got := BeyondLoopback(tc.addr); got != tc.want {
			t.Errorf("BeyondLoopback(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"listen", "username", "password", "default_query", "pkt_size"}
	for _, tc := range []struct {
		key, want string
	}{
		{"listne", "listen"},    // swap
		{"lisen", "listen"},     // deletion
		{"listenn", "listen"},   // insertion
		{"LISTEN", "listen"},    // case
		{"usrname", "username"}, // deletion
		{"pasword", "password"}, // deletion
		{"pkt_sz", "pkt_size"},  // two deletions
		{"default-query", "default_query"},
		{"user", ""}, // too far
		{"port", ""}, // too far
		{"lstn", ""}, // two edits on a short key
	} {
		got, ok := suggest(tc.key, known)
		if ok != (tc.want != "") || got != tc.want && ok {
			t.Errorf("suggest(%q) = %q, %v, want %q", tc.key, got, ok, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "abc", 0},
		{"ab", "ba", 1}, {"kitten", "sitting", 3}, {"levle", "level", 1}, {"ca", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
