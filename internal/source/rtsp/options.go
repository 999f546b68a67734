package rtsp

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5"

	"github.com/rtspgate/rtspgate/internal/redact"
	"github.com/rtspgate/rtspgate/internal/stream"
)

// The '#' options of rtsp, rtsps and rtspx sources, checked here once, at
// load: the config only checks their syntax.
const optionNames = "#timeout, #media, #backchannel, #transport"

// maxTimeout bounds #timeout (seconds): a day.
const maxTimeout = 86400

// options returns spec's options in the order written (List), or, for a
// spec built in code with only Options, sorted by name.
func options(spec stream.SourceSpec) []stream.Option {
	if len(spec.List) > 0 || len(spec.Options) == 0 {
		return spec.List
	}
	var out []stream.Option
	for k, v := range spec.Options {
		out = append(out, stream.Option{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// applyOptions checks the options and applies them to st; it returns the
// #media choice ("" for all). Errors never print a value that is not a
// plain word: a '#' in a password would otherwise cut it into an "option".
func applyOptions(opts []stream.Option, st *settings) (media string, err error) {
	seen := map[string]bool{}
	for _, o := range opts {
		k, v := o.Key, o.Value
		if seen[k] {
			return "", fmt.Errorf("option #%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "timeout":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTimeout {
				return "", fmt.Errorf("#timeout: want a whole number of seconds from 1 to %d, got %s", maxTimeout, redact.Word(v))
			}
			st.reqTimeout = time.Duration(n) * time.Second
			st.dataTimeout = st.reqTimeout
		case "media":
			media = strings.ToLower(v)
			if media != "video" && media != "audio" {
				return "", fmt.Errorf("#media: want video or audio, got %s", redact.Word(v))
			}
		case "backchannel":
			if v != "0" && v != "1" {
				return "", fmt.Errorf("#backchannel: want 0 or 1, got %s", redact.Word(v))
			}
			st.backchannel = v == "1"
		case "transport":
			if err := applyTransport(v, st); err != nil {
				return "", err
			}
		default:
			if redact.IsWord(k) {
				return "", fmt.Errorf("unknown option #%s; rtsp sources accept %s", k, optionNames)
			}
			return "", errors.New("an unknown option (not shown: it may be part of a password; write '#' in a password as %23); rtsp sources accept " + optionNames)
		}
	}
	return media, nil
}

// applyTransport takes #transport: tcp, udp, or a ws:// or wss:// URL to
// carry RTSP in a WebSocket.
func applyTransport(v string, st *settings) error {
	lv := strings.ToLower(v)
	switch {
	case lv == "tcp":
		st.protocol = gortsplib.ProtocolTCP
	case lv == "udp":
		st.protocol = gortsplib.ProtocolUDP
	case strings.HasPrefix(lv, "ws://") || strings.HasPrefix(lv, "wss://"):
		u, err := url.Parse(v)
		if err != nil {
			return errors.New("#transport: the WebSocket URL does not parse (write '@' in a password as %40, '#' as %23)")
		}
		if u.Hostname() == "" {
			return errors.New("#transport has no host (want ws://[user:pass@]host[:port]/path)")
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				return errors.New("#transport has a port out of range (1-65535)")
			}
		}
		st.protocol = gortsplib.ProtocolTCP
		st.ws = v
	case strings.Contains(v, "://"):
		return errors.New("#transport: want udp, tcp or a ws:// or wss:// URL, got another kind of URL")
	default:
		return fmt.Errorf("#transport: want udp, tcp or a ws:// or wss:// URL, got %s", redact.Word(v))
	}
	return nil
}
