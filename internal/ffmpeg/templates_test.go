package ffmpeg

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  -re   -i {input} ", []string{"-re", "-i", "{input}"}},
		{"-vf 'scale=1280:-1, fps=10' -x", []string{"-vf", "scale=1280:-1, fps=10", "-x"}},
		{`-metadata "title=a \"b\" \\ c"`, []string{"-metadata", `title=a "b" \ c`}},
		{`-vf "drawtext=text='%{localtime\:%X}'"`, []string{"-vf", `drawtext=text='%{localtime\:%X}'`}},
		{"a''b '' c", []string{"ab", "", "c"}},
		{"a\tb\nc", []string{"a", "b", "c"}},
		{`a\ b`, []string{`a\`, "b"}},
	}
	for _, tt := range tests {
		got, err := SplitArgs(tt.in)
		if err != nil {
			t.Errorf("SplitArgs(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"-vf 'x", `a "b`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("SplitArgs(%q): no error", bad)
		}
	}
}

func TestTemplatesLookup(t *testing.T) {
	t.Parallel()
	var none Templates
	if v, ok := none.Lookup("pcmu"); !ok || v != "-c:a pcm_mulaw -ar:a 8000 -ac:a 1" {
		t.Errorf("default pcmu = %q, %v", v, ok)
	}
	tm := Templates{"h264": "-c:v libx264", "mine": "-x 1", "global": ""}
	if v, _ := tm.Lookup("h264"); v != "-c:v libx264" {
		t.Errorf("override h264 = %q", v)
	}
	if v, ok := tm.Lookup("global"); !ok || v != "" {
		t.Errorf("empty override global = %q, %v", v, ok)
	}
	if _, ok := tm.Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
	d := DefaultTemplates()
	d["file"] = "changed"
	if v, _ := none.Lookup("file"); v != "-re -i {input}" {
		t.Errorf("DefaultTemplates is shared: file = %q", v)
	}
}

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	spec, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return spec
}

func TestAudioArgs(t *testing.T) {
	t.Parallel()
	r := &Runner{}
	got, err := r.AudioArgs(mustParse(t, "ffmpeg:/m/a b.mp3#audio=pcma#input=file"), "PCMA")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-nostdin", "-nostats", "-v", "error", "-hide_banner", "-re", "-i", "/m/a b.mp3",
		"-vn", "-sn", "-dn", "-c:a", "pcm_alaw", "-ar:a", "8000", "-ac:a", "1", "-flush_packets", "1", "-f", "alaw", "pipe:1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AudioArgs =\n %q\nwant\n %q", got, want)
	}

	r = &Runner{Templates: Templates{"timeout": "10", "global": ""}}
	got, err = r.AudioArgs(mustParse(t, "ffmpeg:rtsp://u:p@cam/x?a=1#raw=-ss 2"), "pcmu")
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(got, " ")
	for _, part := range []string{
		"-v error -allowed_media_types audio -fflags nobuffer",
		"-timeout 10000000 -user_agent rtspgate/ffmpeg -rtsp_transport tcp -i rtsp://u:p@cam/x?a=1 -ss 2 -vn",
		"-c:a pcm_mulaw", "-f mulaw pipe:1",
	} {
		if !strings.Contains(line, part) {
			t.Errorf("AudioArgs = %q, want it to contain %q", line, part)
		}
	}
	if slices.Contains(got, "-hide_banner") {
		t.Errorf("global override ignored: %q", got)
	}

	for _, tt := range []struct{ src, codec, want string }{
		{"ffmpeg:a.mp3", "G722", "must be PCMU or PCMA"},
		{"ffmpeg:a.mp3#audio=pcma", "PCMU", "#audio=pcma does not fit"},
		{"ffmpeg:a.mp3#audio=pcmu/16000", "PCMU", "does not fit"},
		{"ffmpeg:a.mp3#audio=auto#audio=pcmu", "PCMU", "one #audio"},
		{"ffmpeg:a.mp4#video=copy", "PCMU", "#video has no place"},
		{"ffmpeg:a.mp3#input=nosuch", "PCMU", "#input=nosuch is neither a template"},
		{"ffmpeg:a.mp3#input=-re -i x", "PCMU", "neither a template nor a raw input"},
		{"ffmpeg:a.mp3#raw='x", "PCMU", "quote is not closed"},
	} {
		_, err := (&Runner{}).AudioArgs(mustParse(t, tt.src), tt.codec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AudioArgs(%q, %q) = %v, want %q", tt.src, tt.codec, err, tt.want)
		}
	}
	_, err = (&Runner{Templates: Templates{"timeout": "soon"}}).AudioArgs(mustParse(t, "ffmpeg:rtsp://cam/x"), "PCMU")
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("bad timeout: %v", err)
	}
	_, err = (&Runner{Templates: Templates{"file": "-re -i x"}}).AudioArgs(mustParse(t, "ffmpeg:a.mp3"), "PCMU")
	if err == nil || !strings.Contains(err.Error(), "no {input}") {
		t.Errorf("template without {input}: %v", err)
	}
}

func TestSourceArgs(t *testing.T) {
	t.Parallel()
	r := &Runner{Templates: Templates{"h264": "-c:v libx264 -profile:v main"}}
	tests := []struct{ src, want string }{
		{"ffmpeg:/m/a.mp4", "-hide_banner -re -i /m/a.mp4 -c copy -user_agent rtspgate/ffmpeg -rtsp_transport tcp -f rtsp rtsp://127.0.0.1:8554/out"},
		{"ffmpeg:/m/a.mp4#video=h264", "-re -i /m/a.mp4 -c:v libx264 -profile:v main -an -user_agent"},
		{"ffmpeg:rtsp://cam/x#audio=aac", "-allowed_media_types audio -fflags nobuffer"},
		{"ffmpeg:rtsp://cam/x#audio=aac", "-i rtsp://cam/x -c:a aac -vn -user_agent"},
		{"ffmpeg:rtsp://cam/x#video=copy#audio=pcmu", "-allowed_media_types video+audio"},
		{"ffmpeg:https://h/a.m3u8#video=copy#input=rtsp/udp", "-timeout 5000000 -user_agent rtspgate/ffmpeg -i https://h/a.m3u8 -c:v copy -an"},
		{"ffmpeg:http://h/a.mjpeg#video=h264#raw=-r 10", "-fflags nobuffer -flags low_delay -i http://h/a.mjpeg -r 10 -c:v libx264"},
		{"ffmpeg:srt://h:1#video=copy", "-hide_banner -i srt://h:1 -c:v copy"},
		{
			"ffmpeg:a.mp4#video=copy#audio=aac#audio=opus",
			"-map 0:v:0? -c:v:0 copy -map 0:a:0? -c:a:0 aac -map 0:a:0? -c:a:1 libopus -application:a:1 lowdelay -min_comp 0 -user_agent",
		},
	}
	for _, tt := range tests {
		got, err := r.SourceArgs(mustParse(t, tt.src), "rtsp://127.0.0.1:8554/out")
		if err != nil {
			t.Errorf("SourceArgs(%q): %v", tt.src, err)
			continue
		}
		if line := strings.Join(got, " "); !strings.Contains(line, tt.want) {
			t.Errorf("SourceArgs(%q) =\n %s\nwant it to contain\n %s", tt.src, line, tt.want)
		}
	}
	for _, tt := range []struct{ src, want string }{
		{"ffmpeg:a.mp4#video=h266", "#video=h266: no such template"},
		{"ffmpeg:a.mp4#audio=auto", "#audio=auto is only for backchannel audio"},
	} {
		_, err := r.SourceArgs(mustParse(t, tt.src), "rtsp://127.0.0.1:8554/out")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("SourceArgs(%q) = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tl := &tail{max: 3}
	_, _ = tl.Write([]byte("one\ntwo\r\nthree\n\nfour\nfi"))
	_, _ = tl.Write([]byte("ve " + strings.Repeat("x", 1000) + "\nrtsp://a:b@h/ failed"))
	got := tl.lines()
	want := []string{"four", "five " + strings.Repeat("x", maxLineLen-5) + "…", "rtsp://a:***@h/ failed"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %q\nwant %q", got, want)
	}
}
