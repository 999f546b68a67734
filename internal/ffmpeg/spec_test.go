package ffmpeg

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/rtspgate/rtspgate/internal/redact"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Spec
	}{
		{"ffmpeg:/media/song.mp3", Spec{Input: "/media/song.mp3"}},
		{"ffmpeg:/path/song.mp3#audio=pcma#input=file", Spec{Input: "/path/song.mp3", Audio: []string{"pcma"}, InputTemplate: "file"}},
		{
			"ffmpeg:rtsp://user:pass@10.0.0.1:554/live?channel=1&subtype=0#video=copy#audio=aac#audio=opus",
			Spec{Input: "rtsp://user:pass@10.0.0.1:554/live?channel=1&subtype=0", Video: []string{"copy"}, Audio: []string{"aac", "opus"}},
		},
		{"FFmpeg:cam1#video=H264#audio=PCMU/16000", Spec{Input: "cam1", Video: []string{"h264"}, Audio: []string{"pcmu/16000"}}},
		{"ffmpeg:file.mp4#raw=-ss 10#video=copy#raw=-t 5", Spec{Input: "file.mp4", Video: []string{"copy"}, Raw: []string{"-ss 10", "-t 5"}}},
		{"ffmpeg:sine=duration=1#input=-f lavfi -i {input}", Spec{Input: "sine=duration=1", InputTemplate: "-f lavfi -i {input}"}},
		{"  ffmpeg:x##video=copy#  ", Spec{Input: "x", Video: []string{"copy"}}},
		{"ffmpeg:song.mp3#audio=auto", Spec{Input: "song.mp3", Audio: []string{"auto"}}},
		{"ffmpeg:x#video=h264/vaapi#video=copy", Spec{Input: "x", Video: []string{"h264/vaapi", "copy"}}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", "not an ffmpeg source"},
		{"rtsp://cam/live", "not an ffmpeg source"},
		{"ffmpeg:", "needs an input"},
		{"ffmpeg:#video=copy", "needs an input"},
		{"ffmpeg:a\nb", "control character"},
		{"ffmpeg:x#foo=1", "unknown option #foo; accepted: #video, #audio, #input, #raw"},
		{"ffmpeg:x#Video=copy", "unknown option #Video"},
		{"ffmpeg:x#rotate=90", "#rotate is not supported by rtspgate yet"},
		{"ffmpeg:rtsp://u:pa#ss@cam/live", "unknown option (not shown"},
		{"ffmpeg:x#video", "#video needs a value"},
		{"ffmpeg:x#audio=", "#audio needs a value"},
		{"ffmpeg:x#raw", "#raw needs a value"},
		{"ffmpeg:x#video=-c:v libx264", "#video wants a codec or template name"},
		{"ffmpeg:x#input=file#input=rtsp", "#input given twice"},
		{"ffmpeg:x#raw=-ss\t1", "control character"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.in, err, tt.want)
		}
		if strings.Contains(err.Error(), "ss@cam") {
			t.Errorf("Parse(%q) error shows part of the password: %q", tt.in, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ffmpeg:rtsp://user:secret@cam/live#video=copy", "ffmpeg:rtsp://user:***@cam/live#video=copy"},
		{"ffmpeg:rtsp://user:p@ss/w@cam/live?a=1", "ffmpeg:rtsp://user:***@cam/live?a=1"},
		{"ffmpeg:rtsp://user@cam/live", "ffmpeg:rtsp://user@cam/live"},
		{"ffmpeg:rtsp://cam/live#audio=pcma", "ffmpeg:rtsp://cam/live#audio=pcma"},
		{"ffmpeg:/media/a@b:c.mp3#input=file", "ffmpeg:/media/a@b:c.mp3#input=file"},
		{"ffmpeg:x#raw=-i rtsp://u:pw@h/y -map 1", "ffmpeg:x#raw=-i rtsp://u:***@h/y -map 1"},
		// canonical order
		{"ffmpeg:x#raw=-re#input=file#audio=aac#video=copy", "ffmpeg:x#video=copy#audio=aac#input=file#raw=-re"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := s.Redacted(); got != tt.want {
			t.Errorf("Redacted(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := fmt.Sprint(s); got != tt.want {
			t.Errorf("Sprint(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScheme(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"RTSP://cam/x": "rtsp", "https://h/a.mp3": "https", "/media/a.mp3": "", "cam1": "", "a/b://c": "", "://x": "",
	} {
		if got := (Spec{Input: in}).Scheme(); got != want {
			t.Errorf("Scheme(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactText(t *testing.T) {
	t.Parallel()
	in := "[rtsp @ 0x1] rtsp://admin:hunter2@10.0.0.1:554/x: Connection refused; url=http://a:b@h/"
	want := "[rtsp @ 0x1] rtsp://admin:***@10.0.0.1:554/x: Connection refused; url=http://a:***@h/"
	if got := redact.Text(in); got != want {
		t.Errorf("redact.Text = %q, want %q", got, want)
	}
}
