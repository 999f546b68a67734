// Package testpeer runs real third-party programs as peers for rtspgate tests:
// a GStreamer RTSP server acting as an IP camera (camera.py, embedded), ffprobe,
// ffmpeg and gst-launch-1.0 as readers, ffmpeg as a publisher, and network
// namespaces for clients that are not on loopback. Beside them, FakeCamera is
// a camera of our own, written on gortsplib's message parser so that it can
// misbehave on purpose the way real cameras do (no marker bits, answers
// gortsplib rejects, a stall, a Tapo's login, a session limit, new parameters
// after a reconnect).
//
// The peers come from Debian packages (ffmpeg, python3-gi,
// gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,bad,ugly},
// gstreamer1.0-libav, gstreamer1.0-tools, iproute2, chromium, stunnel4,
// websockify). A missing one fails the test with the package names; nothing
// is skipped.
//
// Every child process is owned by the test that started it: t.Cleanup stops it
// (SIGTERM, then SIGKILL after 3 s) and waits for it. On Linux the children
// also get SIGKILL if the test binary dies.
package testpeer
