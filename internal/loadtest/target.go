package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Target kinds StartTarget knows the config of.
const (
	TargetRTSPGate = "rtspgate"
	TargetGo2RTC   = "go2rtc"
)

// TargetStream is one stream of a target's config: its name and source.
type TargetStream struct {
	Name, URL string
}

// TargetYAML returns the config file of a target kind: its RTSP server on
// addr, no HTTP API, warnings only in the log, and the streams in order.
//
// rtspgate reads rtsp.listen, api.listen ("" disables the API), log.level
// and streams. go2rtc reads the same keys; app.modules limits it to its
// RTSP module (and the API, disabled), so that its WebRTC, HomeKit and
// other listeners neither take ports nor work during a measurement.
func TargetYAML(kind, addr string, streams []TargetStream) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# written by rtspgate-load\n")
	switch kind {
	case TargetRTSPGate:
	case TargetGo2RTC:
		b.WriteString("app:\n  modules: [api, rtsp]\n")
	default:
		return nil, fmt.Errorf("target %q: want %s or %s", kind, TargetRTSPGate, TargetGo2RTC)
	}
	fmt.Fprintf(&b, "rtsp:\n  listen: %s\n", yamlString(addr))
	b.WriteString("api:\n  listen: \"\"\n")
	b.WriteString("log:\n  level: warn\n")
	b.WriteString("streams:\n")
	for _, s := range streams {
		if !validStreamName(s.Name) {
			return nil, fmt.Errorf("stream name %q: letters, digits, - _ . only", s.Name)
		}
		fmt.Fprintf(&b, "  %s: %s\n", s.Name, yamlString(s.URL))
	}
	return []byte(b.String()), nil
}

// yamlString quotes s as a YAML double-quoted scalar (Go's escapes are
// YAML's for printable ASCII, and URLs are that).
func yamlString(s string) string { return strconv.Quote(s) }

func validStreamName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ProcessTargetConfig tells StartTarget what to run.
type ProcessTargetConfig struct {
	// Kind is TargetRTSPGate or TargetGo2RTC; Bin its program.
	Kind, Bin string
	// Streams go into its config.
	Streams []TargetStream
	// Dir receives the config file; a new temporary directory (removed by
	// Stop) if empty.
	Dir string
	// Listen is its RTSP address; a free loopback port if empty.
	Listen string
	// Log receives its stdout and stderr; discarded if nil.
	Log io.Writer
	// Env is added to this process's environment (e.g. GODEBUG=gctrace=1).
	Env []string
	// StartTimeout bounds the wait for it to listen; 15 s if 0.
	StartTimeout time.Duration
}

// ProcessTarget is a target process started by StartTarget.
type ProcessTarget struct {
	addr       string
	pid        int
	configPath string
	proc       *process
	tmpDir     string
}

// StartTarget writes the target's config and starts it with "-c FILE",
// then waits until its RTSP port accepts connections.
func StartTarget(ctx context.Context, cfg ProcessTargetConfig) (*ProcessTarget, error) {
	if cfg.Bin == "" {
		return nil, errors.New("target: no program (-target-bin)")
	}
	addr := cfg.Listen
	if addr == "" {
		var err error
		if addr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	data, err := TargetYAML(cfg.Kind, addr, cfg.Streams)
	if err != nil {
		return nil, err
	}
	t := &ProcessTarget{addr: addr}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rtspgate-load-target-"); err != nil {
			return nil, err
		}
		t.tmpDir = dir
	}
	t.configPath = filepath.Join(dir, cfg.Kind+".yaml")
	if err := os.WriteFile(t.configPath, data, 0o600); err != nil {
		t.Stop()
		return nil, err
	}
	cmd := exec.Command(cfg.Bin, "-c", t.configPath)
	cmd.Env = append(os.Environ(), cfg.Env...)
	if cfg.Log != nil {
		cmd.Stdout, cmd.Stderr = cfg.Log, cfg.Log
	}
	p, err := startProcess(cmd)
	if err != nil {
		t.Stop()
		return nil, fmt.Errorf("start %s: %w", cfg.Bin, err)
	}
	t.proc, t.pid = p, cmd.Process.Pid
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	if err := waitTCP(ctx, "rtsp://"+addr, timeout, p.exited); err != nil {
		t.Stop()
		return nil, fmt.Errorf("%s: %w", cfg.Kind, err)
	}
	return t, nil
}

// URL implements Target.
func (t *ProcessTarget) URL(stream string) string { return "rtsp://" + t.addr + "/" + stream }

// PID implements Target.
func (t *ProcessTarget) PID() int { return t.pid }

// ConfigPath is the config file written for the target.
func (t *ProcessTarget) ConfigPath() string { return t.configPath }

// Stop ends the process by its PID (SIGTERM, SIGKILL after 5 s) and removes
// the temporary directory, if one was made.
func (t *ProcessTarget) Stop() {
	if t.proc != nil {
		t.proc.stop()
		t.proc = nil
	}
	if t.tmpDir != "" {
		os.RemoveAll(t.tmpDir)
		t.tmpDir = ""
	}
}

// freeLoopbackAddr returns 127.0.0.1 with a port free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
