package loadtest

import (
	"context"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"go.yaml.in/yaml/v3"

	"github.com/rtspgate/rtspgate/internal/config"
)

var templateStreams = []TargetStream{
	{"cam0", "rtsp://127.0.0.1:40001/cam0"},
	{"cam1", "rtsp://127.0.0.1:40001/cam1"},
}

// TestTargetYAMLRTSPGate loads the rtspgate template with rtspgate's own
// config loader: every key known, the values meant.
func TestTargetYAMLRTSPGate(t *testing.T) {
	data, err := TargetYAML(TargetRTSPGate, "127.0.0.1:40002", templateStreams)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("rtspgate.yaml", data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if cfg.RTSP.Listen != "127.0.0.1:40002" || cfg.API.Listen != "" || cfg.Log.Level != "warn" || len(cfg.Ignored) != 0 {
		t.Fatalf("rtsp %q api %q log %q ignored %q", cfg.RTSP.Listen, cfg.API.Listen, cfg.Log.Level, cfg.Ignored)
	}
	var got []TargetStream
	for _, s := range cfg.Streams {
		if len(s.Sources) != 1 {
			t.Fatalf("stream %s: %d sources", s.Name, len(s.Sources))
		}
		got = append(got, TargetStream{s.Name, s.Sources[0].URL})
	}
	if !slices.Equal(got, templateStreams) {
		t.Fatalf("streams %v, want %v", got, templateStreams)
	}
}

// TestTargetYAMLGo2RTC checks the go2rtc template's keys as go2rtc reads
// them (its modules, rtsp.listen, api.listen, log.level, streams).
func TestTargetYAMLGo2RTC(t *testing.T) {
	data, err := TargetYAML(TargetGo2RTC, "127.0.0.1:40002", templateStreams)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		App struct {
			Modules []string `yaml:"modules"`
		} `yaml:"app"`
		RTSP struct {
			Listen string `yaml:"listen"`
		} `yaml:"rtsp"`
		API struct {
			Listen *string `yaml:"listen"`
		} `yaml:"api"`
		Log struct {
			Level string `yaml:"level"`
		} `yaml:"log"`
		Streams yaml.Node `yaml:"streams"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if !slices.Equal(cfg.App.Modules, []string{"api", "rtsp"}) || cfg.RTSP.Listen != "127.0.0.1:40002" ||
		cfg.API.Listen == nil || *cfg.API.Listen != "" || cfg.Log.Level != "warn" {
		t.Fatalf("parsed %+v from\n%s", cfg, data)
	}
	var got []TargetStream
	for i := 0; i+1 < len(cfg.Streams.Content); i += 2 {
		got = append(got, TargetStream{cfg.Streams.Content[i].Value, cfg.Streams.Content[i+1].Value})
	}
	if !slices.Equal(got, templateStreams) {
		t.Fatalf("streams %v, want %v", got, templateStreams)
	}
	// rtspgate loads go2rtc's file too: app: is one of go2rtc's sections.
	if _, err := config.Parse("go2rtc.yaml", data, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTargetYAMLRefuses(t *testing.T) {
	if _, err := TargetYAML("mediamtx", "127.0.0.1:1", nil); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := TargetYAML(TargetRTSPGate, "127.0.0.1:1", []TargetStream{{"a: b", "rtsp://x/y"}}); err == nil {
		t.Error("a stream name that would break the YAML accepted")
	}
}

// fakeTargetEnv makes the test binary a stand-in target: it loads the
// config given with -c with rtspgate's loader, listens on rtsp.listen and
// waits for SIGTERM.
const fakeTargetEnv = "RTSPGATE_LOAD_FAKE_TARGET"

func TestMain(m *testing.M) {
	if os.Getenv(fakeTargetEnv) == "1" {
		os.Exit(fakeTarget(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeTarget(args []string) int {
	if len(args) != 2 || args[0] != "-c" {
		return 2
	}
	cfg, err := config.Load(args[1:], nil)
	if err != nil || len(cfg.Streams) == 0 {
		return 3
	}
	ln, err := net.Listen("tcp", cfg.RTSP.Listen)
	if err != nil {
		return 4
	}
	defer ln.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}

// TestStartTarget starts the stand-in target: StartTarget writes its
// config, waits for its port, and Stop ends it and removes the config.
func TestStartTarget(t *testing.T) {
	tgt, err := StartTarget(context.Background(), ProcessTargetConfig{
		Kind: TargetRTSPGate, Bin: os.Args[0], Streams: templateStreams, Env: []string{fakeTargetEnv + "=1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := base.ParseURL(tgt.URL("cam1"))
	if err != nil || u.Path != "/cam1" {
		t.Fatalf("URL %q: %v", tgt.URL("cam1"), err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := ProcRSS(tgt.PID()); err != nil {
		t.Fatal(err)
	}
	cfgPath := tgt.ConfigPath()
	tgt.Stop()
	if _, err := os.Stat(cfgPath); !os.IsNotExist(err) {
		t.Fatalf("config left behind: %v", err)
	}
	if _, err := net.Dial("tcp", u.Host); err == nil {
		t.Fatal("target still listening after Stop")
	}

	// A program that exits at once is reported, without waiting for the
	// start timeout.
	_, err = StartTarget(context.Background(), ProcessTargetConfig{Kind: TargetRTSPGate, Bin: "/bin/false", Streams: templateStreams})
	if err == nil {
		t.Fatal("a target that never listens was accepted")
	}
}
