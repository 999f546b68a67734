// Package ffmpeg runs ffmpeg for rtspgate: it parses "ffmpeg:INPUT#opt=val"
// source strings, turns them into argument lists from templates that the
// config may override, starts the program in its own process group (never
// through a shell), and packetizes raw G.711 from its stdout into RTP for a
// camera's backchannel.
package ffmpeg
