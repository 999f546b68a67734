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
