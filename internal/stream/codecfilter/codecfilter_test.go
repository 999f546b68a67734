package codecfilter

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  []Pick
	}{
		{"", nil},
		{"video&audio", []Pick{{Kind: "video"}, {Kind: "audio"}}},
		{"Video=ALL&audio=hevc,%20aac", []Pick{{Kind: "video", All: true}, {Kind: "audio", Codecs: []string{"H265", "AAC"}}}},
		{"mp4", []Pick{{Kind: "video", Codecs: []string{"H264", "H265"}}, {Kind: "audio", Codecs: []string{"AAC"}}}},
		{"video=h264,all,,&other=1", []Pick{{Kind: "video", Codecs: []string{"H264"}}}},
	} {
		got, err := Parse(tc.query)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, %v, want %+v", tc.query, got, err, tc.want)
		}
	}
	if _, err := Parse("foo=%zz&video"); err == nil {
		t.Error("Parse accepted a bad escape")
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		query   string
		ok      bool
		unknown string // the key of an *UnknownKeyError
	}{
		{"video&audio", true, ""},
		{"video=all&audio=all", true, ""},
		{"VIDEO=h264,h265&&", true, ""},
		{"mp4", true, ""},
		{"vidoe", false, "vidoe"},
		{"vidoe&audio", false, "vidoe"},
		{"video&backchannel=1", false, "backchannel"},
		{"", false, ""},
		{"&", false, ""},
		{"video=%zz", false, ""},
	} {
		err := Check(tc.query)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.query, err, tc.ok)
			continue
		}
		var uk *UnknownKeyError
		if errors.As(err, &uk) != (tc.unknown != "") || (uk != nil && uk.Key != tc.unknown) {
			t.Errorf("Check(%q) = %v, want unknown key %q", tc.query, err, tc.unknown)
		}
	}
}
