// Package config loads the rtspgate YAML configuration into typed values.
//
// A config is one or more YAML files (later files' keys win) with the
// sections streams:, rtsp:, api:, log: and ffmpeg:. Every value is checked
// at load time: a bad file yields one *Error naming the file, line and key,
// and no error ever shows a credential. ${VAR} and ${VAR:default} in values
// expand from the environment. Keys of the original product's config
// that rtspgate does not use (webrtc:, hass:, api.origin, …) are accepted
// and listed in Config.Ignored; a key neither knows is an error that
// suggests the closest known key.
//
// See README.md in this folder for the keys users may write.
package config
