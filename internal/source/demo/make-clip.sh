#!/bin/sh
# Makes the demo clip embedded in rtspgate: 8 s of H.264 (640x360, 25 fps,
# baseline, a keyframe every second, an AUD before every frame) and 8 s of
# 8 kHz A-law beeps. Both last exactly 8 s so the loop stays in sync.
set -e
cd "$(dirname "$0")"
ffmpeg -v error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=8" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=8000:duration=8" \
  -map 0:v -c:v libx264 -profile:v baseline -preset slow -tune zerolatency \
  -b:v 450k -maxrate 500k -bufsize 500k -g 25 -keyint_min 25 -sc_threshold 0 \
  -x264-params aud=1:repeat-headers=1 -pix_fmt yuv420p -f h264 clip.h264 \
  -map 1:a -c:a pcm_alaw -f alaw clip.alaw
