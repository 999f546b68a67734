package config

import (
	"errors"
	"os"
	"slices"
)

// Config is the whole rtspgate configuration.
type Config struct {
	Streams []Stream // in file order; a later file's stream of the same name replaces the earlier one in place
	RTSP    RTSP
	API     API
	Log     Log
	FFmpeg  FFmpeg
	// Ignored lists the keys written in the files that the original
	// product knows but rtspgate does not use yet, in file order, each
	// once: its other top-level sections ("webrtc", "hass"), its keys
	// inside sections rtspgate reads ("api.origin", "log.format",
	// "log.rtsp"), and keys rtspgate reads and checks but has no use for
	// yet. A key neither knows is an
	// error, not listed here.
	Ignored []string
}

// RTSP is the rtsp: section: the RTSP server for readers and publishers.
type RTSP struct {
	Listen       string // default ":8554"; "" disables the server
	Username     string // auth is off when empty
	Password     string
	DefaultQuery string // default "video&audio"
	PktSize      int    // max RTP packet size of H.264/H.265 sent to readers; 0 = unset (over 1472 cut to 1400)
	// RTPAddress and RTCPAddress are where UDP readers' RTP and RTCP go
	// from (default ":8000" and ":8001"; a port follows the other when only
	// one is written); both "" turn UDP readers off. A host left out is
	// rtsp.listen's.
	RTPAddress, RTCPAddress string
	// NoGOPCache (gop_cache: false) makes new readers wait for the next
	// keyframe instead of starting at the last one.
	NoGOPCache bool
}

// API is the api: section: the HTTP API and its web pages.
type API struct {
	Listen string // default ":1984"; "" disables it
	// Username and Password (both or neither) are asked, with HTTP Basic,
	// of clients not on loopback, as rtsp.username is; off when empty.
	Username string
	Password string
}

// Log is the log: section.
type Log struct {
	Level string // trace, debug, info, warn or error; default info
}

// FFmpeg is the ffmpeg: section.
type FFmpeg struct {
	Bin       string            // default "ffmpeg"
	Templates map[string]string // every other key under ffmpeg:, overriding a built-in template
}

// Default returns the config used when no file is given: no streams and the
// default of every key.
func Default() *Config {
	return &Config{
		RTSP:   RTSP{Listen: ":8554", DefaultQuery: "video&audio", RTPAddress: ":8000", RTCPAddress: ":8001"},
		API:    API{Listen: ":1984"},
		Log:    Log{Level: "info"},
		FFmpeg: FFmpeg{Bin: "ffmpeg", Templates: map[string]string{}},
	}
}

// Load reads the files in order on top of Default; a later file's keys win
// and a later file's stream replaces an earlier stream of the same name.
// getenv (os.LookupEnv if nil) expands ${VAR} and ${VAR:default} in values.
// The error, if any, is an *Error naming file, line and key.
func Load(paths []string, getenv func(string) (string, bool)) (*Config, error) {
	cfg := Default()
	at := places{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &Error{File: p, Msg: "cannot read the file: " + err.Error()}
		}
		if err := apply(cfg, at, p, data, getenv); err != nil {
			return nil, err
		}
	}
	if err := checkAll(cfg, at); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse parses one YAML document on top of Default. name is the file name
// used in error messages.
func Parse(name string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	cfg := Default()
	at := places{}
	if err := apply(cfg, at, name, data, getenv); err != nil {
		return nil, err
	}
	if err := checkAll(cfg, at); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Stream returns the stream with the given name.
func (c *Config) Stream(name string) (Stream, bool) {
	for _, s := range c.Streams {
		if s.Name == name {
			return s, true
		}
	}
	return Stream{}, false
}

func (c *Config) ignore(key string) {
	if !slices.Contains(c.Ignored, key) {
		c.Ignored = append(c.Ignored, key)
	}
}
