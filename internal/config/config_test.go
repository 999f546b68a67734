package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func mustParse(t *testing.T, yml string) *Config {
	t.Helper()
	cfg, err := Parse("config.yaml", []byte(yml), env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// The RTSP client example of go2rtc's RTSP module documentation, as
// written (with the trailing space after glichy_camera's source).
const clientExample = `streams:
  sonoff_camera: rtsp://rtsp:12345678@192.168.1.123/av_stream/ch0
  dahua_camera:
    - rtsp://admin:password@192.168.1.123/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif
    - rtsp://admin:password@192.168.1.123/cam/realmonitor?channel=1&subtype=1#backchannel=0
  amcrest_doorbell:
    - rtsp://username:password@192.168.1.123:554/cam/realmonitor?channel=1&subtype=0#backchannel=0
  unifi_camera: rtspx://192.168.1.123:7441/fD6ouM72bWoFijxK
  glichy_camera: ffmpeg:rtsp://username:password@192.168.1.123/live/ch00_1 
`

const wsExample = `streams:
  # WebSocket with authorization, RTSP - without
  axis-rtsp-ws:  rtsp://192.168.1.123:4567/axis-media/media.amp?overview=0&camera=1&resolution=1280x720&videoframeskipmode=empty&Axis-Orig-Sw=true#transport=ws://user:pass@192.168.1.123:4567/rtsp-over-websocket
  # WebSocket without authorization, RTSP - with
  dahua-rtsp-ws: rtsp://user:pass@192.168.1.123/cam/realmonitor?channel=1&subtype=1&proto=Private3#transport=ws://192.168.1.123/rtspoverwebsocket
`

const serverExample = `rtsp:
  listen: ":8554"    # RTSP Server TCP port, default - 8554
  username: "admin"  # optional, default - disabled
  password: "pass"   # optional, default - disabled
  default_query: "video&audio"  # optional, default codecs filters 
`

func TestSpecExamples(t *testing.T) {
	t.Run("client", func(t *testing.T) {
		cfg := mustParse(t, clientExample)
		type want struct {
			name    string
			line    int
			schemes []string
		}
		wants := []want{
			{"sonoff_camera", 2, []string{"rtsp"}},
			{"dahua_camera", 3, []string{"rtsp", "rtsp"}},
			{"amcrest_doorbell", 6, []string{"rtsp"}},
			{"unifi_camera", 8, []string{"rtspx"}},
			{"glichy_camera", 9, []string{"ffmpeg"}},
		}
		if len(cfg.Streams) != len(wants) {
			t.Fatalf("got %d streams, want %d", len(cfg.Streams), len(wants))
		}
		for i, w := range wants {
			s := cfg.Streams[i]
			if s.Name != w.name || s.Line != w.line || s.File != "config.yaml" {
				t.Errorf("stream %d = %s line %d file %s, want %s line %d", i, s.Name, s.Line, s.File, w.name, w.line)
			}
			var got []string
			for _, src := range s.Sources {
				got = append(got, src.Scheme)
			}
			if !reflect.DeepEqual(got, w.schemes) {
				t.Errorf("%s schemes = %v, want %v", w.name, got, w.schemes)
			}
		}
		dahua := cfg.Streams[1].Sources
		if dahua[0].Line != 4 || dahua[1].Line != 5 {
			t.Errorf("dahua source lines = %d, %d, want 4, 5", dahua[0].Line, dahua[1].Line)
		}
		if dahua[0].Options["backchannel"] != "" || dahua[1].Options["backchannel"] != "0" {
			t.Errorf("dahua options = %v, %v", dahua[0].Options, dahua[1].Options)
		}
		if got, want := dahua[1].URL, "rtsp://admin:password@192.168.1.123/cam/realmonitor?channel=1&subtype=1"; got != want {
			t.Errorf("URL = %q, want %q", got, want)
		}
		g := cfg.Streams[4].Sources[0]
		if got, want := g.Input(), "rtsp://username:password@192.168.1.123/live/ch00_1"; got != want {
			t.Errorf("ffmpeg input = %q, want %q", got, want)
		}
		if got, want := g.Redacted(), "ffmpeg:rtsp://username:***@192.168.1.123/live/ch00_1"; got != want {
			t.Errorf("Redacted = %q, want %q", got, want)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		cfg := mustParse(t, wsExample)
		if len(cfg.Streams) != 2 {
			t.Fatalf("got %d streams, want 2", len(cfg.Streams))
		}
		axis := cfg.Streams[0].Sources[0]
		if got, want := axis.Options["transport"], "ws://user:pass@192.168.1.123:4567/rtsp-over-websocket"; got != want {
			t.Errorf("axis transport = %q, want %q", got, want)
		}
		if !strings.HasSuffix(axis.URL, "Axis-Orig-Sw=true") {
			t.Errorf("axis URL = %q", axis.URL)
		}
		if strings.Contains(axis.Redacted(), "pass") {
			t.Errorf("axis Redacted shows the password: %q", axis.Redacted())
		}
		dahua := cfg.Streams[1].Sources[0]
		if got, want := dahua.Options["transport"], "ws://192.168.1.123/rtspoverwebsocket"; got != want {
			t.Errorf("dahua transport = %q, want %q", got, want)
		}
	})
	t.Run("server", func(t *testing.T) {
		cfg := mustParse(t, serverExample)
		want := RTSP{Listen: ":8554", Username: "admin", Password: "pass", DefaultQuery: "video&audio", RTPAddress: ":8000", RTCPAddress: ":8001"}
		if cfg.RTSP != want {
			t.Errorf("RTSP = %+v, want %+v", cfg.RTSP, want)
		}
	})
}

func TestDefaults(t *testing.T) {
	want := &Config{
		RTSP:   RTSP{Listen: ":8554", DefaultQuery: "video&audio", RTPAddress: ":8000", RTCPAddress: ":8001"},
		API:    API{Listen: ":1984"},
		Log:    Log{Level: "info"},
		FFmpeg: FFmpeg{Bin: "ffmpeg", Templates: map[string]string{}},
	}
	for _, tc := range []struct{ name, yml string }{
		{"Default", ""},
		{"empty file", ""},
		{"comments only", "# nothing here\n"},
		{"null document", "~\n"},
		{"empty sections", "streams:\nrtsp:\napi:\nlog:\nffmpeg:\n"},
		{"empty mappings", "streams: {}\nrtsp: {}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Default()
			if tc.name != "Default" {
				got = mustParse(t, tc.yml)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	cfg, err := Load(nil, nil)
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load(nil) = %+v, %v", cfg, err)
	}
}

func TestSections(t *testing.T) {
	cfg := mustParse(t, `rtsp:
  listen: ""
  pkt_size: 1200
  gop_cache: false
api:
  listen: 127.0.0.1:1985
  username: u
  password: 12345678
  origin: "*"
log:
  level: DEBUG
  rtsp: trace
ffmpeg:
  bin: /usr/bin/ffmpeg
  h264: "-c:v libx264"
webrtc:
  listen: ":8555"
hass:
homekit: {}
`)
	if cfg.RTSP.Listen != "" || cfg.RTSP.PktSize != 1200 || cfg.RTSP.DefaultQuery != "video&audio" || !cfg.RTSP.NoGOPCache {
		t.Errorf("RTSP = %+v", cfg.RTSP)
	}
	if want := (API{Listen: "127.0.0.1:1985", Username: "u", Password: "12345678"}); cfg.API != want {
		t.Errorf("API = %+v, want %+v", cfg.API, want)
	}
	if cfg.Log.Level != "debug" {
		t.Errorf("log level = %q", cfg.Log.Level)
	}
	if cfg.FFmpeg.Bin != "/usr/bin/ffmpeg" || cfg.FFmpeg.Templates["h264"] != "-c:v libx264" || len(cfg.FFmpeg.Templates) != 1 {
		t.Errorf("FFmpeg = %+v", cfg.FFmpeg)
	}
	want := []string{"api.origin", "log.rtsp", "webrtc", "hass", "homekit"}
	if !reflect.DeepEqual(cfg.Ignored, want) {
		t.Errorf("Ignored = %q, want %q", cfg.Ignored, want)
	}
}

func TestStreamForms(t *testing.T) {
	cfg := mustParse(t, `streams:
  null_stream:
  tilde: ~
  empty_string: ""
  empty_list: []
  one: rtsp://cam/1
  flow: [rtsp://cam/1, "ffmpeg:one#video=h264#audio=aac#audio=opus"]
  block:
    - RTSP://cam/1#media=Video
    - rtsps://cam:322/2#timeout=30#transport=UDP
  anchored: &a rtsp://cam/a
  alias: *a
`)
	want := map[string][]string{
		"null_stream":  nil,
		"tilde":        nil,
		"empty_string": nil,
		"empty_list":   nil,
		"one":          {"rtsp://cam/1"},
		"flow":         {"rtsp://cam/1", "ffmpeg:one#video=h264#audio=aac#audio=opus"},
		"block":        {"RTSP://cam/1#media=Video", "rtsps://cam:322/2#timeout=30#transport=UDP"},
		"anchored":     {"rtsp://cam/a"},
		"alias":        {"rtsp://cam/a"},
	}
	var order []string
	for _, s := range cfg.Streams {
		order = append(order, s.Name)
		var raws []string
		for _, src := range s.Sources {
			raws = append(raws, src.Raw)
		}
		if !reflect.DeepEqual(raws, want[s.Name]) {
			t.Errorf("%s sources = %q, want %q", s.Name, raws, want[s.Name])
		}
	}
	wantOrder := []string{"null_stream", "tilde", "empty_string", "empty_list", "one", "flow", "block", "anchored", "alias"}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("order = %q, want %q", order, wantOrder)
	}

	flow, _ := cfg.Stream("flow")
	ff := flow.Sources[1]
	if ff.Options["audio"] != "opus" || len(ff.List) != 3 || ff.List[1] != (Option{"audio", "aac"}) || ff.Input() != "one" {
		t.Errorf("ffmpeg options = %v / %v, input %q", ff.Options, ff.List, ff.Input())
	}
	block, _ := cfg.Stream("block")
	b0, b1 := block.Sources[0], block.Sources[1]
	if b0.Scheme != "rtsp" || b0.Options["media"] != "Video" {
		t.Errorf("block[0] = %+v", b0)
	}
	if b1.Options["timeout"] != "30" || b1.Options["transport"] != "UDP" {
		t.Errorf("block[1] options %v", b1.Options)
	}
	if block.Sources[1].Line != 10 {
		t.Errorf("block[1] line = %d, want 10", block.Sources[1].Line)
	}
	one, _ := cfg.Stream("one")
	a, _ := cfg.Stream("alias")
	if one.SameSources(a) || !one.SameSources(Stream{Sources: []Source{{Raw: "rtsp://cam/1"}}}) {
		t.Error("SameSources")
	}
	if _, ok := cfg.Stream("nope"); ok {
		t.Error("Stream(nope) found")
	}
}

func TestLoadMerge(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "a.yaml")
	second := filepath.Join(dir, "b.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(first, `streams:
  cam1: rtsp://old/1
  cam2: rtsp://old/2
rtsp:
  listen: ":9000"
  username: admin
  password: one
log:
  level: debug
ffmpeg:
  h264: one
  h265: two
webrtc: {}
`)
	write(second, `streams:
  cam2: [rtsp://new/2a, rtsp://new/2b]
  cam3:
rtsp:
  username: other
ffmpeg:
  h264: three
webrtc: {}
hass: {}
`)
	cfg, err := Load([]string{first, second}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range cfg.Streams {
		names = append(names, s.Name)
	}
	if !reflect.DeepEqual(names, []string{"cam1", "cam2", "cam3"}) {
		t.Errorf("streams = %q", names)
	}
	cam2, _ := cfg.Stream("cam2")
	if len(cam2.Sources) != 2 || cam2.Sources[0].Raw != "rtsp://new/2a" || cam2.File != second || cam2.Line != 2 {
		t.Errorf("cam2 = %+v", cam2)
	}
	cam1, _ := cfg.Stream("cam1")
	if cam1.File != first {
		t.Errorf("cam1 file = %q", cam1.File)
	}
	if cfg.RTSP.Listen != ":9000" || cfg.RTSP.Username != "other" || cfg.Log.Level != "debug" {
		t.Errorf("RTSP = %+v, log %q", cfg.RTSP, cfg.Log.Level)
	}
	if want := map[string]string{"h264": "three", "h265": "two"}; !reflect.DeepEqual(cfg.FFmpeg.Templates, want) {
		t.Errorf("templates = %v", cfg.FFmpeg.Templates)
	}
	if !reflect.DeepEqual(cfg.Ignored, []string{"webrtc", "hass"}) {
		t.Errorf("Ignored = %q", cfg.Ignored)
	}

	// An error names the file it is in.
	write(second, "streams:\n  bad/name: rtsp://h/\n")
	_, err = Load([]string{first, second}, env(nil))
	if err == nil || !strings.HasPrefix(err.Error(), second+":2: streams: ") {
		t.Errorf("err = %v", err)
	}
	_, err = Load([]string{filepath.Join(dir, "missing.yaml")}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: cannot read the file") {
		t.Errorf("err = %v", err)
	}
}

func TestEnv(t *testing.T) {
	getenv := env(map[string]string{"CAM_PASS": "s3cret", "HOST": "10.0.0.5", "EMPTY": ""})
	cfg, err := Parse("config.yaml", []byte(`streams:
  cam: rtsp://admin:${CAM_PASS}@${HOST}/live#timeout=${TIMEOUT:7}
  lit: rtsp://h/p${not closed
  empty: ${EMPTY}
rtsp:
  listen: ${LISTEN::8600}
  username: admin
  password: ${CAM_PASS}
  pkt_size: ${PKT:1400}
webrtc:
  listen: ${UNSET_BUT_IGNORED}
`), getenv)
	if err != nil {
		t.Fatal(err)
	}
	cam, _ := cfg.Stream("cam")
	if got, want := cam.Sources[0].Raw, "rtsp://admin:s3cret@10.0.0.5/live#timeout=7"; got != want {
		t.Errorf("Raw = %q, want %q", got, want)
	}
	lit, _ := cfg.Stream("lit")
	if got := lit.Sources[0].Raw; got != "rtsp://h/p${not closed" {
		t.Errorf("lit = %q", got)
	}
	if e, _ := cfg.Stream("empty"); len(e.Sources) != 0 {
		t.Errorf("empty = %+v", e)
	}
	if cfg.RTSP.Listen != ":8600" || cfg.RTSP.Password != "s3cret" || cfg.RTSP.PktSize != 1400 {
		t.Errorf("RTSP = %+v", cfg.RTSP)
	}

	_, err = Parse("config.yaml", []byte("streams:\n  cam: rtsp://admin:${NO_SUCH_PASS}@h/\n"), getenv)
	if err == nil || err.Error() != "config.yaml:2: streams.cam: environment variable NO_SUCH_PASS is not set (write ${NO_SUCH_PASS:default} to give a default)" {
		t.Errorf("err = %v", err)
	}
}

// TestErrors checks that each bad file is refused with FILE:LINE: KEY and
// that the password "s3cret" of any URL never shows in the message.
func TestErrors(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name string
		yml  string
		want string // the message starts with this
		also string // and contains this
	}{
		{"syntax", "streams:\n  cam: rtsp://u:s3cret@h/\n  bad: [\n", "config.yaml:3: YAML syntax: ", ""},
		{"syntax tab", "streams:\n\tcam: rtsp://u:s3cret@h/\n", "config.yaml:2: YAML syntax: ", "(indent with spaces, not tabs)"},
		{"two documents", "streams: {}\n---\nrtsp: {}\n", "config.yaml:2: ", "one YAML document"},
		{"top list", "- rtsp://u:s3cret@h/\n", "config.yaml:1: the file must be a mapping", "got a list"},
		{"top string", "rtsp://u:s3cret@h/\n", "config.yaml:1: the file must be a mapping", "got a string"},
		{"section twice", "streams:\n  a: rtsp://h/\nrtsp: {}\nstreams:\n  b: rtsp://h/\n", "config.yaml:4: streams: given twice, at lines 1 and 4", ""},
		{"streams list", "streams:\n  - rtsp://u:s3cret@h/\n", "config.yaml:2: streams: want a mapping", "got a list"},
		{"stream map", "streams:\n  cam:\n    url: rtsp://u:s3cret@h/\n", "config.yaml:3: streams.cam: want a source string, a list of them, or nothing, got a mapping", ""},
		{"stream number", "streams:\n  cam: 554\n", "config.yaml:2: streams.cam: ", "got a number"},
		{"stream bool", "streams:\n  cam: true\n", "config.yaml:2: streams.cam: ", "got true/false"},
		{"gop_cache word", "rtsp:\n  gop_cache: sometimes\n", "config.yaml:2: rtsp.gop_cache: want true or false", `"sometimes"`},
		{"list item map", "streams:\n  cam:\n    - rtsp://h/\n    - {a: b}\n", "config.yaml:4: streams.cam: want a source string in the list, got a mapping", ""},
		{"list item empty", "streams:\n  cam:\n    - rtsp://h/\n    - \"\"\n", "config.yaml:4: streams.cam: an empty source", ""},
		{"bad name", "streams:\n  ok: rtsp://h/\n  \"bad name\": rtsp://u:s3cret@h/\n",
			`config.yaml:3: streams: "bad name": a stream name may hold only letters, digits, '-', '_' and '.'`, ""},
		{"name slash", "streams:\n  a/b: rtsp://u:s3cret@h/\n", `config.yaml:2: streams: "a/b": a stream name may hold only`, ""},
		{"name dotdot", "streams:\n  ..: rtsp://h/\n", `config.yaml:2: streams: ".." is not a valid stream name`, ""},
		{"name empty", "streams:\n  \"\": rtsp://h/\n", "config.yaml:2: streams: a stream name may not be empty", ""},
		{"duplicate stream", "streams:\n  cam: rtsp://u:s3cret@h/1\n  other:\n  cam: rtsp://u:s3cret@h/2\n", "config.yaml:4: streams.cam: given twice, at lines 2 and 4", ""},
		{"no scheme userinfo", "streams:\n  cam: admin:s3cret@192.168.1.2/live\n", "config.yaml:2: streams.cam: a source must start with a scheme, e.g. rtsp://host/path", ""},
		{"no scheme", "streams:\n  cam: 192.168.1.2/live\n", "config.yaml:2: streams.cam: a source must start with a scheme", ""},
		{"no host", "streams:\n  cam: rtsp:///live\n", "config.yaml:2: streams.cam: the source URL has no host", ""},
		{"opaque", "streams:\n  cam: rtsp:u:s3cret@h/live\n", "config.yaml:2: streams.cam: the source URL has no host", ""},
		{"hash in password", "streams:\n  cam: rtsp://u:s3#cret@h/live\n", "config.yaml:2: streams.cam: the source URL has a port that is not a number", "%23"},
		{"slash in password", "streams:\n  cam: rtsp://u:s3/cret@h/live\n", "config.yaml:2: streams.cam: the source URL has a port that is not a number", ""},
		{"bad escape in password", "streams:\n  cam: rtsp://u:s3cret%zz@h/live\n", "config.yaml:2: streams.cam: the source URL holds a '%'", ""},
		{"port range", "streams:\n  cam: rtsp://u:s3cret@h:70000/live\n", "config.yaml:2: streams.cam: the source URL has a port out of range", ""},
		{"no option name", "streams:\n  cam: rtsp://u:s3cret@h/live#=1\n", "config.yaml:2: streams.cam: an option with no name", ""},
		{"ffmpeg no input", "streams:\n  cam: ffmpeg:#video=h264\n", "config.yaml:2: streams.cam: ffmpeg: needs an input", ""},
		{"unset var", "streams:\n  cam:\n    - rtsp://u:${PASS}@h/\n", "config.yaml:3: streams.cam: environment variable PASS is not set", ""},
		{"unset var rtsp", "rtsp:\n  username: admin\n  password: ${RTSP_PASS}\n", "config.yaml:3: rtsp.password: environment variable RTSP_PASS is not set", ""},
		{"rtsp not map", "rtsp: [a]\n", "config.yaml:1: rtsp: want a mapping of keys to values, got a list", ""},
		{"rtsp key twice", "rtsp:\n  password: s3cret\n  password: s3cret\n", "config.yaml:3: rtsp.password: given twice, at lines 2 and 3", ""},
		{"password map", "rtsp:\n  password: {s3cret: 1}\n", "config.yaml:2: rtsp.password: want a string, got a mapping", ""},
		{"pkt_size word", "rtsp:\n  password: s3cret\n  pkt_size: abc\n", `config.yaml:3: rtsp.pkt_size: want a whole number, got "abc"`, ""},
		{"pkt_size zero", "rtsp:\n  pkt_size: 0\n", "config.yaml:2: rtsp.pkt_size: want a number of bytes from 1 to 65535, got 0", ""},
		{"listen number", "rtsp:\n  listen: 8554\n", `config.yaml:2: rtsp.listen: want host:port or :port with a port from 0 to 65535, got "8554" (did you mean ":8554"?)`, ""},
		{"listen range", "api:\n  listen: \":99999\"\n", `config.yaml:2: api.listen: want host:port or :port with a port from 0 to 65535, got ":99999"`, ""},
		{"listen word", "api:\n  listen: \"localhost:http\"\n", `config.yaml:2: api.listen: want host:port`, ""},
		{"api listen number", "api:\n  listen: 1984\n", `config.yaml:2: api.listen: want host:port or :port with a port from 0 to 65535, got "1984" (did you mean ":1984"?)`, ""},
		{"api listen list", "api:\n  listen: [\":1984\"]\n", "config.yaml:2: api.listen: want a string, got a list", ""},
		{"unset var api", "api:\n  username: admin\n  password: ${API_PASS}\n", "config.yaml:3: api.password: environment variable API_PASS is not set", ""},
		{"api password map", "api:\n  password: {s3cret: 1}\n", "config.yaml:2: api.password: want a string, got a mapping", ""},
		{"api not map", "api: \":1984\"\n", "config.yaml:1: api: want a mapping of keys to values, got a string", ""},
		{"log level", "log:\n  level: verbose\n", `config.yaml:2: log.level: want trace, debug, info, warn or error, got "verbose"`, ""},
		{"ffmpeg bin empty", "ffmpeg:\n  bin: \"\"\n", "config.yaml:2: ffmpeg.bin: want the ffmpeg program", ""},
		{"ffmpeg template list", "ffmpeg:\n  h264: [a]\n", "config.yaml:2: ffmpeg.h264: want a string, got a list", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tc.yml), env(nil))
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || !strings.Contains(msg, tc.also) {
				t.Errorf("error\n  %s\nwant it to start with\n  %s\nand hold %q", msg, tc.want, tc.also)
			}
			for _, bad := range []string{secret, "cret", "\n"} {
				if strings.Contains(msg, bad) {
					t.Errorf("error %q holds %q", msg, bad)
				}
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "config.yaml" {
				t.Errorf("error is not a *Error of config.yaml: %#v", err)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"rtsp://cam/live", "rtsp://cam/live"},
		{"rtsp://admin@cam/live", "rtsp://admin@cam/live"},
		{"rtsp://admin:s3cret@cam:554/live?a=1&b=2", "rtsp://admin:***@cam:554/live?a=1&b=2"},
		{"rtsp://admin:p@ss@cam/live", "rtsp://admin:***@cam/live"},
		{"rtsp://admin:@cam/live", "rtsp://admin:***@cam/live"},
		{"rtsp://admin:s3cret@cam/live#backchannel=0#timeout=5", "rtsp://admin:***@cam/live#backchannel=0#timeout=5"},
		{"rtsp://cam/x?y=1#transport=ws://user:pass@cam:4567/rtsp-over-websocket", "rtsp://cam/x?y=1#transport=ws://user:***@cam:4567/rtsp-over-websocket"},
		{"rtsp://u:a@cam/x#transport=wss://v:b@cam/ws", "rtsp://u:***@cam/x#transport=wss://v:***@cam/ws"},
		{"ffmpeg:rtsp://u:s3cret@cam/x#video=h264#input=rtsp://v:w@h/", "ffmpeg:rtsp://u:***@cam/x#video=h264#input=rtsp://v:***@h/"},
		{"ffmpeg:movie.mp4#video=copy", "ffmpeg:movie.mp4#video=copy"},
		{"rtsp://cam/p?mail=a@b", "rtsp://cam/p?mail=a@b"},
	}
	for _, tc := range tests {
		if got := (Source{Raw: tc.raw}).Redacted(); got != tc.want {
			t.Errorf("Redacted(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestParseSource(t *testing.T) {
	s, err := ParseSource("  RTSPS://u:p@[::1]:322/live#transport=TCP#media=audio#backchannel=1  ")
	if err != nil {
		t.Fatal(err)
	}
	want := Source{
		Raw:     "RTSPS://u:p@[::1]:322/live#transport=TCP#media=audio#backchannel=1",
		URL:     "RTSPS://u:p@[::1]:322/live",
		Scheme:  "rtsps",
		Options: map[string]string{"transport": "TCP", "media": "audio", "backchannel": "1"},
		List:    []Option{{"transport", "TCP"}, {"media", "audio"}, {"backchannel", "1"}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	if s.Input() != "" {
		t.Errorf("Input %q", s.Input())
	}
	if _, err := ParseSource("rtspx://10.0.0.1:7441/abc##"); err != nil {
		t.Errorf("empty options: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Key: "rtsp.listen", Msg: "bad"}, "a.yaml:3: rtsp.listen: bad"},
		{Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{clientExample, wsExample, serverExample, "streams:\n  a: [rtsp://h/#timeout=1]\n", "a: &x [*x]\nstreams: {b: *x}\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := Parse("f.yaml", []byte(s), env(nil))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, st := range cfg.Streams {
			if CheckStreamName(st.Name) != nil {
				t.Errorf("accepted bad name %q", st.Name)
			}
			for _, src := range st.Sources {
				_ = src.Redacted()
			}
		}
	})
}

// TestAPISection: api.listen, api.username and api.password are read and
// used (not listed as ignored); go2rtc's other api keys are accepted and
// listed.
func TestAPISection(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      API
		ignored   []string
	}{
		{"default", "", API{Listen: ":1984"}, nil},
		{"disabled", "api:\n  listen: \"\"\n", API{}, nil},
		{"loopback", "api:\n  listen: 127.0.0.1:1985\n", API{Listen: "127.0.0.1:1985"}, nil},
		{"credentials from env", "api:\n  username: admin\n  password: ${API_PASS}\n", API{Listen: ":1984", Username: "admin", Password: "from-env"}, nil},
		{"default from env", "api:\n  listen: ${API_LISTEN:[::]:1986}\n", API{Listen: "[::]:1986"}, nil},
		{"go2rtc keys", "api:\n  listen: \":1984\"\n  local_auth: true\n  origin: \"*\"\n", API{Listen: ":1984"}, []string{"api.local_auth", "api.origin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("config.yaml", []byte(tc.yml), env(map[string]string{"API_PASS": "from-env"}))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.API != tc.want {
				t.Errorf("API = %+v, want %+v", cfg.API, tc.want)
			}
			if !reflect.DeepEqual(cfg.Ignored, tc.ignored) {
				t.Errorf("Ignored = %q, want %q", cfg.Ignored, tc.ignored)
			}
		})
	}
}
