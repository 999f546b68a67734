#!/usr/bin/env bash
# Runs every check and test of rtspgate. It first installs, when missing, the
# outside programs the tests drive (ffmpeg, GStreamer's RTSP server and
# rtspsrc, Chromium, stunnel4, websockify, iproute2), from Debian's
# packages: run it as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v gst-launch-1.0 >/dev/null || need+=(gstreamer1.0-tools)
command -v ip >/dev/null || need+=(iproute2)
command -v chromium >/dev/null || need+=(chromium)
command -v /usr/bin/websockify >/dev/null || need+=(websockify)
command -v stunnel >/dev/null || need+=(stunnel4)
if ! /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0"); from gi.repository import GstRtspServer' 2>/dev/null; then
  need+=(python3-gi gir1.2-gst-rtsp-server-1.0)
fi
if ! gst-inspect-1.0 x264enc >/dev/null 2>&1 || ! gst-inspect-1.0 avdec_h264 >/dev/null 2>&1 || ! gst-inspect-1.0 rtspsrc >/dev/null 2>&1; then
  need+=(gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test peers: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    ffmpeg gstreamer1.0-tools python3-gi gir1.2-gst-rtsp-server-1.0 iproute2 \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-ugly gstreamer1.0-libav chromium stunnel4 websockify >/dev/null
fi

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
