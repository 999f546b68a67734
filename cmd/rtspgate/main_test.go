package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the tests run this binary's main in a child process: the
// test binary itself, with RTSPGATE_TEST_MAIN set, is rtspgate.
func TestMain(m *testing.M) {
	if os.Getenv("RTSPGATE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rtspgate returns a command running main with args in an empty folder (so
// no ./rtspgate.yaml is read).
func rtspgate(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RTSPGATE_TEST_MAIN=1")
	cmd.Dir = t.TempDir()
	return cmd
}

func writeConfig(t *testing.T, yml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rtspgate.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := rtspgate(t, arg)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("rtspgate %s: %v, want exit 0; stderr:\n%s", arg, err, stderr.String())
			}
			out := stdout.String()
			for _, want := range []string{"Usage: rtspgate", "-c file", "-config file", "rtspgate.yaml"} {
				if !strings.Contains(out, want) {
					t.Errorf("usage does not hold %q:\n%s", want, out)
				}
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}

func TestBadFlag(t *testing.T) {
	var stderr bytes.Buffer
	cmd := rtspgate(t, "-nope")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("rtspgate -nope: %v, want exit 1", err)
	}
	if msg := stderr.String(); !strings.Contains(msg, "-nope") || !strings.Contains(msg, "rtspgate -h") {
		t.Errorf("stderr = %q", msg)
	}
}

// TestBadConfig: each kind of config mistake stops start-up with exit 1 and
// one line naming file, line and key, and never the password.
func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yml, want string
	}{
		{"unknown key", "rtsp:\n  listne: \":8554\"\n", ":2: rtsp.listne: unknown key; did you mean rtsp.listen?"},
		{"unknown section", "stream:\n  cam: rtsp://h/\n", ":1: stream: unknown key; did you mean streams?"},
		{"default_query", "rtsp:\n  default_query: vidoe\n", `:2: rtsp.default_query: "vidoe": unknown key "vidoe" (did you mean video?)`},
		{"password alone", "rtsp:\n  password: hunter2\n", ":2: rtsp.password: is set but rtsp.username is not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yml)
			var stderr bytes.Buffer
			cmd := rtspgate(t, "-c", path)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want 1; stderr:\n%s", err, stderr.String())
			}
			msg := stderr.String()
			if want := "rtspgate: " + path + tc.want; !strings.HasPrefix(msg, want) || strings.Count(msg, "\n") != 1 {
				t.Errorf("stderr\n  %q\nwant one line starting\n  %q", msg, want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("stderr shows the password: %s", msg)
			}
		})
	}
}

// TestStartLog: the files loaded are logged at info, and the keys of the
// original that rtspgate does not use in one warning.
func TestStartLog(t *testing.T) {
	first := writeConfig(t, "rtsp:\n  listen: \"\"\nwebrtc:\n  listen: \":8555\"\napi:\n  listen: \"\"\n  origin: \"*\"\n")
	second := writeConfig(t, "log:\n  format: text\nwebrtc: {}\n")
	cmd := rtspgate(t, "-c", first, "-c", second)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	timeout := time.After(20 * time.Second)
	for len(got) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("rtspgate ended early:\n%s", strings.Join(got, "\n"))
			}
			got = append(got, l)
		case <-timeout:
			t.Fatalf("no start-up lines within 20 s:\n%s", strings.Join(got, "\n"))
		}
	}
	for i, want := range [][]string{
		{"level=INFO", `msg="config loaded"`, "path=" + first},
		{"level=INFO", `msg="config loaded"`, "path=" + second},
		{"level=WARN", "does not use yet", `keys="webrtc, api.origin, log.format"`},
	} {
		for _, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("line %d = %q, want it to hold %q", i+1, got[i], w)
			}
		}
	}
}
