#!/usr/bin/python3
"""A fake IP camera for rtspgate tests: a GStreamer RTSP server on 127.0.0.1.

Started by camera.go (testpeer.StartCamera). Protocol on stdout, one line each:
  port N                 the bound TCP port (before "ready")
  ready                  the server is listening
  require: VALUE         with --require-log, one line per Require header of a DESCRIBE
  require-none           with --require-log, a DESCRIBE without a Require header
  backchannel-buffers N  with --backchannel, buffers that reached the speaker so far
                         (every second and once at exit)
  sessions N             with --session-log, the RTSP sessions open now, each time
                         the number changes
Exit code 3 means a missing system package (message on stderr).
"""

import argparse
import signal
import sys

MISSING_EXIT = 3


def missing(what):
    sys.stderr.write(
        "testpeer camera: %s; install the Debian packages python3-gi "
        "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
        "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad "
        "gstreamer1.0-plugins-ugly gstreamer1.0-libav\n" % what)
    sys.exit(MISSING_EXIT)


try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as e:
    missing("cannot load GStreamer RTSP server bindings (%s)" % e)

BACKCHANNEL_LAUNCH = (
    '( capsfilter caps="application/x-rtp,media=audio,payload=0,'
    'clock-rate=8000,encoding-name=PCMU" name=depay_backchannel ! '
    'rtppcmudepay ! mulawdec ! '
    'fakesink name=sink signal-handoffs=true async=false )')

VIDEO = {
    "h264": ("x264enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! "
             "rtph264pay name=pay0 pt=96 config-interval=-1",
             ["x264enc", "rtph264pay"]),
    "h265": ("x265enc tune=zerolatency key-int-max=25 speed-preset=ultrafast ! "
             "rtph265pay name=pay0 pt=96 config-interval=-1",
             ["x265enc", "rtph265pay"]),
}

AUDIO = {
    "pcma": ("audiotestsrc is-live=true wave=sine volume=0.3 ! "
             "audio/x-raw,rate=8000,channels=1 ! alawenc ! "
             "rtppcmapay name=pay1 pt=8",
             ["audiotestsrc", "alawenc", "rtppcmapay"]),
    "aac": ("audiotestsrc is-live=true wave=sine volume=0.3 ! audioconvert ! "
            "audioresample ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! "
            "rtpmp4gpay name=pay1 pt=97",
            ["audiotestsrc", "audioconvert", "audioresample", "avenc_aac",
             "rtpmp4gpay"]),
    "none": ("", []),
}


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--path", default="/cam")
    p.add_argument("--audio", choices=sorted(AUDIO), default="pcma")
    p.add_argument("--video", choices=sorted(VIDEO), default="h264")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--backchannel", action="store_true")
    p.add_argument("--require-log", action="store_true")
    p.add_argument("--session-log", action="store_true",
                   help="print the number of open sessions when it changes")
    p.add_argument("--reject-backchannel", action="store_true",
                   help="answer 551 to a DESCRIBE that requires the backchannel")
    a = p.parse_args()
    if not a.path.startswith("/"):
        a.path = "/" + a.path
    if bool(a.user) != bool(a.password):
        p.error("--user and --password go together")
    return a


def launch_line(a):
    video, elems = VIDEO[a.video]
    audio, aelems = AUDIO[a.audio]
    line = ("( videotestsrc is-live=true pattern=ball ! "
            "video/x-raw,width=320,height=240,framerate=25/1 ! " + video)
    if audio:
        line += " " + audio
    line += " )"
    elems = ["videotestsrc"] + elems + aelems
    if a.backchannel:
        elems += ["capsfilter", "rtppcmudepay", "mulawdec", "fakesink"]
    return line, elems


class Camera:
    def __init__(self, a):
        self.args = a
        self.buffers = 0
        self.sessions = 0
        self.loop = GLib.MainLoop()

        launch, elems = launch_line(a)
        absent = [e for e in elems if Gst.ElementFactory.find(e) is None]
        if absent:
            missing("GStreamer elements not found: " + ", ".join(absent))

        if a.backchannel:
            self.server = GstRtspServer.RTSPOnvifServer.new()
            factory = GstRtspServer.RTSPOnvifMediaFactory.new()
            factory.set_backchannel_launch(BACKCHANNEL_LAUNCH)
            # A shared ONVIF media answers DESCRIBE with 400.
            factory.set_shared(False)
            factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia)
            factory.connect("media-configure", self.on_media_configure)
        else:
            self.server = GstRtspServer.RTSPServer.new()
            factory = GstRtspServer.RTSPMediaFactory.new()
            factory.set_shared(True)
        factory.set_launch(launch)

        self.server.set_address("127.0.0.1")
        self.server.set_service(str(a.port))

        if a.user:
            self.setup_auth(factory)
        if a.require_log or a.reject_backchannel:
            self.server.connect("client-connected", self.on_client_connected)

        self.server.get_mount_points().add_factory(a.path, factory)

    def setup_auth(self, factory):
        a = self.args
        role = "user"
        auth = GstRtspServer.RTSPAuth.new()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
        auth.add_digest(a.user, a.password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        self.server.set_auth(auth)

        perms = GstRtspServer.RTSPPermissions.new()
        perms.add_permission_for_role(
            role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role(
            role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)

    def on_client_connected(self, server, client):
        client.connect("pre-describe-request", self.on_pre_describe)

    def on_pre_describe(self, client, ctx):
        values = []
        i = 0
        while True:
            res, value = ctx.request.get_header(GstRtsp.RTSPHeaderField.REQUIRE, i)
            if res != GstRtsp.RTSPResult.OK:
                break
            values.append(value)
            i += 1
        if self.args.require_log:
            if values:
                for v in values:
                    out("require: " + v)
            else:
                out("require-none")
        if self.args.reject_backchannel and any(
                GstRtspServer.RTSP_ONVIF_BACKCHANNEL_REQUIREMENT in v
                for v in values):
            return GstRtsp.RTSPStatusCode.OPTION_NOT_SUPPORTED
        return GstRtsp.RTSPStatusCode.OK

    def on_media_configure(self, factory, media):
        sink = media.get_element().get_by_name("sink")
        if sink is not None:
            sink.connect("handoff", self.on_handoff)

    def on_handoff(self, sink, buf, pad):
        # Called on a streaming thread; the GIL makes += safe enough here,
        # and the count is only read on the main loop.
        self.buffers += 1

    def report(self):
        out("backchannel-buffers %d" % self.buffers)
        return True

    def count_sessions(self):
        n = self.server.get_session_pool().get_n_sessions()
        if n != self.sessions:
            self.sessions = n
            out("sessions %d" % n)
        return True

    def stop(self):
        self.loop.quit()
        return False

    def run(self):
        try:
            attached = self.server.attach(None) != 0
            reason = "port in use?"
        except GLib.Error as e:
            attached, reason = False, str(e)
        if not attached:
            sys.stderr.write("testpeer camera: cannot listen on 127.0.0.1:%d (%s)\n"
                             % (self.args.port, reason))
            sys.exit(1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self.stop)
        if self.args.backchannel:
            GLib.timeout_add_seconds(1, self.report)
        if self.args.session_log:
            GLib.timeout_add(50, self.count_sessions)
        out("port %d" % self.server.get_bound_port())
        out("ready")
        self.loop.run()
        if self.args.backchannel:
            self.report()


def main():
    a = parse_args()
    Gst.init(None)
    Camera(a).run()
    sys.exit(0)


if __name__ == "__main__":
    main()
