// Package e2e holds rtspgate's end-to-end tests: the real binary or a full
// in-process instance, driven by outside programs (ffmpeg, ffprobe,
// GStreamer) the way users drive it.
package e2e
