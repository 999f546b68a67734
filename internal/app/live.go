package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rtspgate/rtspgate/internal/api"
	"github.com/rtspgate/rtspgate/internal/stream"
	"github.com/rtspgate/rtspgate/internal/talk"
)

// TalkLive implements api.Talker: the web page's talk button.
func (b *backend) TalkLive(ctx context.Context, name string) (api.LiveTalk, error) {
	st := b.reg.Get(name)
	if st == nil {
		return nil, fmt.Errorf("%w: %q", api.ErrNotFound, name)
	}
	l, err := talk.StartLive(ctx, st)
	switch {
	case errors.Is(err, stream.ErrNoSink), errors.Is(err, talk.ErrBadSource):
		return nil, fmt.Errorf("%w: %v", api.ErrNoBackchannel, err)
	case err != nil:
		return nil, err
	}
	return liveTalk{l}, nil
}

// liveTalk names codecs as the API does ("PCMU/8000").
type liveTalk struct{ *talk.Live }

func (lt liveTalk) Codecs() []string {
	var out []string
	for _, c := range lt.Live.Codecs() {
		out = append(out, c+"/8000")
	}
	return out
}

func (lt liveTalk) Write(codec string, payload []byte) error {
	return replaced(lt.Live.Write(strings.TrimSuffix(strings.ToUpper(codec), "/8000"), payload))
}

// Err says why the talk ended, as the API names a takeover.
func (lt liveTalk) Err() error { return replaced(lt.Live.Err()) }

// replaced names a takeover by another talker as the API does.
func replaced(err error) error {
	if errors.Is(err, stream.ErrReplaced) {
		return fmt.Errorf("%w", api.ErrTalkReplaced)
	}
	return err
}
