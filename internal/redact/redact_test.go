package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:secret@10.0.0.1/live":    "rtsp://admin:***@10.0.0.1/live",
		"rtsp://admin:p@ss/word@10.0.0.1/live": "rtsp://admin:***@10.0.0.1/live",
		"rtsp://10.0.0.1/live?user=a@b":        "rtsp://10.0.0.1/live?user=a@b",
		"rtsp://viewer@10.0.0.1/live":          "rtsp://viewer@10.0.0.1/live",
		"/path/file.mp4":                       "/path/file.mp4",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rtsp://admin:pw@cam/x", "rtsp://admin:***@cam/x"},
		{"rtsp://cam/x", "rtsp://cam/x"},
		{"rtsp://admin@cam/x", "rtsp://admin@cam/x"},
		{"ffmpeg:rtsp://u:p@h/x#audio=pcmu", "ffmpeg:rtsp://u:***@h/x#audio=pcmu"},
		{"rtsp://u:p@ss/w@rd@h/x", "rtsp://u:***@h/x"},
		{"rtsp://h/x#transport=ws://u:p@w/", "rtsp://h/x#transport=ws://u:***@w/"},
		{`dial "rtsp://a:b@h1/" then rtsp://c:d@h2/ failed`, `dial "rtsp://a:***@h1/" then rtsp://c:***@h2/ failed`},
		{"http://h/p?mail=a@b", "http://h/p?mail=a@b"},
		{"no url", "no url"},
		{"://", "://"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
