// Package loadtest measures the fan-out of an RTSP server: one publisher at
// real-time pace, many cheap TCP readers, and the server's CPU and memory.
//
// The publisher (publisher.go) loops an H.264 Annex-B file through a gortsplib
// client and stamps every access unit with an SEI message (sei.go) that holds
// a frame counter and the send time. The readers (reader.go) are hand-made
// RTSP/TCP clients that only parse RTP headers and look for that SEI, so that
// thousands of them cost little next to the server under test; with
// TransportUDP they take RTP datagrams on their own socket pairs instead
// (udpreader.go). Run (run.go)
// wires them together and samples /proc for the server's CPU and RSS; Relay
// (relay.go) is a byte relay that gives the floor any real server is compared
// against; Compare (compare.go) runs both for a list of reader counts.
//
// Camera (camera.go) is the other way in: fake IP cameras the server pulls,
// each path looping the input on its own timeline with the same SEI stamps.
// StartTarget (target.go) writes a server's config for them and runs it;
// Cameras (cameras.go) measures many cameras with a few readers each, and
// FirstFrame (ttff.go) how long a new reader waits for its first whole
// keyframe (keyframe.go), with the stream running or cold.
package loadtest
