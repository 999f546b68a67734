package talk

import (
	"errors"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

func TestPick(t *testing.T) {
	pcmu := &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}
	pcma := &format.G711{PayloadTyp: 8, SampleRate: 8000, ChannelCount: 1}
	opus := &format.Opus{PayloadTyp: 96, ChannelCount: 2}
	for _, c := range []struct {
		name    string
		formats []format.Format
		want    []string
		codec   string // "" = an error
	}{
		{"auto takes the camera's first", []format.Format{pcma, pcmu}, nil, "PCMA"},
		{"explicit auto", []format.Format{pcmu, pcma}, []string{"auto"}, "PCMU"},
		{"named", []format.Format{pcmu, pcma}, []string{"pcma"}, "PCMA"},
		{"last #audio wins", []format.Format{pcmu, pcma}, []string{"pcma", "PCMU"}, "PCMU"},
		{"not offered", []format.Format{pcmu}, []string{"pcma"}, ""},
		{"no G.711 at all", []format.Format{opus}, nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, codec, err := pick(c.formats, c.want)
			if c.codec == "" {
				if err == nil || !errors.Is(err, ErrBadSource) {
					t.Fatalf("pick = %v %q, want an ErrBadSource", f, codec)
				}
				return
			}
			if err != nil || codec != c.codec {
				t.Fatalf("pick = %q %v, want %s", codec, err, c.codec)
			}
		})
	}
}
