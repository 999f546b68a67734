#!/usr/bin/python3
"""A fake IP camera for rtspgate tests: a GStreamer RTSP server on 127.0.0.1.

Started by camera.go (testpeer.StartCamera). Protocol on stdout, one line each:
  port N                 the bound TCP port (before "ready")
  ready                  the server is listening
  require: VALUE         with --require-log, one line per Require header of a DESCRIBE
  require-none           with --require-log, a DESCRIBE without a Require header
  describe onvif-require     with --require-log or --backchannel, a DESCRIBE that
  describe no-onvif-require  carried (or did not carry) the ONVIF backchannel Require
  backchannel-buffers N  with --backchannel, buffers that reached the speaker so far
                         (every second and once at exit)
  backchannel-bytes N    with --backchannel, G.711 payload bytes received so far
                         (every 200 ms while it changes and once at exit)
  backchannel-codec C    with --backchannel, the first bytes in codec C (pcmu, pcma)
                         arrived; before the "backchannel-bytes" line counting them
  backchannel-setup ok   with --backchannel, a SETUP of the backchannel stream
  backchannel-setup refused  the same, answered with 453 (--refuse-backchannel-setup)
  sessions N             with --session-log, the RTSP sessions open now, each time
                         the number changes
Exit code 3 means a missing system package (message on stderr).
"""

import argparse
import signal
import sys
import threading

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

# Backchannel codecs: payload type, encoding name, depayloader, decoder.
BACKCHANNEL = {
    "pcmu": (0, "PCMU", "rtppcmudepay", "mulawdec"),
    "pcma": (8, "PCMA", "rtppcmadepay", "alawdec"),
}


def backchannel_launch(codecs):
    """The ONVIF backchannel bin: the factory finds the element named
    depay_backchannel and offers each structure of its caps in the SDP."""
    caps = ";".join(
        "application/x-rtp,media=audio,payload=%d,clock-rate=8000,"
        "encoding-name=%s" % BACKCHANNEL[c][:2] for c in codecs)
    branches = []
    for i, c in enumerate(codecs):
        _, _, depay, dec = BACKCHANNEL[c]
        # identity sees the depayloaded G.711 bytes, before decoding.
        branches.append(
            "%s ! identity name=payload%d signal-handoffs=true ! %s ! "
            "fakesink name=sink%d signal-handoffs=true async=false sync=false"
            % (depay, i, dec, i))
    head = 'capsfilter caps="%s" name=depay_backchannel' % caps
    if len(codecs) == 1:
        return "( %s ! %s )" % (head, branches[0])
    demux = " ".join("ptdemux.src_%d ! %s" % (BACKCHANNEL[c][0], b)
                     for c, b in zip(codecs, branches))
    return "( %s ! rtpptdemux name=ptdemux %s )" % (head, demux)


def backchannel_elements(codecs):
    elems = ["capsfilter", "identity", "fakesink"]
    if len(codecs) > 1:
        elems.append("rtpptdemux")
    for c in codecs:
        elems += BACKCHANNEL[c][2:]
    return elems


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
    p.add_argument("--backchannel-codec", default="pcmu",
                   help="comma-separated backchannel codecs: pcmu, pcma")
    p.add_argument("--refuse-backchannel-setup", action="store_true",
                   help="answer 453 to a SETUP of the backchannel stream")
    a = p.parse_args()
    a.backchannel_codecs = a.backchannel_codec.split(",")
    for c in a.backchannel_codecs:
        if c not in BACKCHANNEL:
            p.error("unknown backchannel codec %r" % c)
    if len(set(a.backchannel_codecs)) != len(a.backchannel_codecs):
        p.error("backchannel codec listed twice")
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
        elems += backchannel_elements(a.backchannel_codecs)
    return line, elems


class Camera:
    def __init__(self, a):
        self.args = a
        # Handoffs run on streaming threads, one per backchannel branch.
        self.lock = threading.Lock()
        self.buffers = 0
        self.bytes = 0
        self.bytes_printed = 0  # "backchannel-bytes 0" waits for the exit
        self.codecs_seen = []  # in the order their first bytes came
        self.codecs_printed = 0
        self.sessions = 0
        self.loop = GLib.MainLoop()

        launch, elems = launch_line(a)
        absent = [e for e in elems if Gst.ElementFactory.find(e) is None]
        if absent:
            missing("GStreamer elements not found: " + ", ".join(absent))

        if a.backchannel:
            self.server = GstRtspServer.RTSPOnvifServer.new()
            factory = GstRtspServer.RTSPOnvifMediaFactory.new()
            factory.set_backchannel_launch(
                backchannel_launch(a.backchannel_codecs))
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
        if a.require_log or a.reject_backchannel or a.backchannel:
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
        if self.args.backchannel:
            client.connect("pre-setup-request", self.on_pre_setup)

    def on_pre_describe(self, client, ctx):
        values = []
        i = 0
        while True:
            res, value = ctx.request.get_header(GstRtsp.RTSPHeaderField.REQUIRE, i)
            if res != GstRtsp.RTSPResult.OK:
                break
            values.append(value)
            i += 1
        # A Require header may list several tags separated by commas.
        onvif = any(t.strip() == GstRtspServer.RTSP_ONVIF_BACKCHANNEL_REQUIREMENT
                    for v in values for t in v.split(","))
        if self.args.require_log:
            if values:
                for v in values:
                    out("require: " + v)
            else:
                out("require-none")
        if self.args.require_log or self.args.backchannel:
            out("describe onvif-require" if onvif else "describe no-onvif-require")
        if self.args.reject_backchannel and onvif:
            return GstRtsp.RTSPStatusCode.OPTION_NOT_SUPPORTED
        return GstRtsp.RTSPStatusCode.OK

    def on_pre_setup(self, client, ctx):
        # The backchannel is the only stream the camera receives on.
        if ctx.stream is None or not ctx.stream.is_receiver():
            return GstRtsp.RTSPStatusCode.OK
        if self.args.refuse_backchannel_setup:
            out("backchannel-setup refused")
            return GstRtsp.RTSPStatusCode.NOT_ENOUGH_BANDWIDTH
        out("backchannel-setup ok")
        return GstRtsp.RTSPStatusCode.OK

    def on_media_configure(self, factory, media):
        bin_ = media.get_element()
        media.connect("prepared", self.on_prepared)
        for i in range(len(self.args.backchannel_codecs)):
            payload = bin_.get_by_name("payload%d" % i)
            sink = bin_.get_by_name("sink%d" % i)
            if payload is None or sink is None:
                return  # a DESCRIBE without the backchannel Require
            payload.connect("handoff", self.on_payload,
                            self.args.backchannel_codecs[i])
            sink.connect("handoff", self.on_handoff)
        # With the backchannel in it, the media fails the seek that a PLAY
        # with a Range triggers (gortsplib always sends npt=0-) and answers
        # 503. This clock mode makes GstRTSPMedia treat the media as not
        # seekable, so PLAY skips the seek, as a live camera would.
        for i in range(media.n_streams()):
            stream = media.get_stream(i)
            if stream.is_receiver():
                stream.set_publish_clock_mode(
                    GstRtspServer.RTSPPublishClockMode.CLOCK_AND_OFFSET)

    def on_prepared(self, media):
        # The backchannel's jitterbuffer reports packets it gave up on to
        # the ULPFEC decoder gst-rtsp-server puts behind it, which aborts the
        # whole camera (assertion have_caps_ssrc in gstrtpulpfecdec.c) when
        # that happens before it saw the stream's caps: a pause longer than
        # the latency, as between two talkers, was enough, once in CI. A
        # camera goes on; without lost-packet reports this one does too.
        pipeline = media.get_element().get_parent()
        if pipeline is None:
            return

        def visit(e, *_):
            f = e.get_factory()
            if f is not None and f.get_name() in ("rtpbin", "rtpjitterbuffer"):
                # rtpbin hands it on to the jitterbuffers it makes later
                e.set_property("do-lost", False)
        pipeline.iterate_recurse().foreach(visit)

    def on_payload(self, identity, buf, codec):
        with self.lock:
            self.bytes += buf.get_size()
            if codec not in self.codecs_seen:
                self.codecs_seen.append(codec)

    def on_handoff(self, sink, buf, pad):
        with self.lock:
            self.buffers += 1

    def report(self):
        with self.lock:
            n = self.buffers
        out("backchannel-buffers %d" % n)
        return True

    def report_bytes(self, always=False):
        with self.lock:
            n = self.bytes
            codecs = self.codecs_seen[self.codecs_printed:]
        for c in codecs:
            out("backchannel-codec " + c)
        self.codecs_printed += len(codecs)
        if always or n != self.bytes_printed:
            self.bytes_printed = n
            out("backchannel-bytes %d" % n)
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
            GLib.timeout_add(200, self.report_bytes)
        if self.args.session_log:
            GLib.timeout_add(50, self.count_sessions)
        out("port %d" % self.server.get_bound_port())
        out("ready")
        self.loop.run()
        if self.args.backchannel:
            self.report_bytes(always=True)
            self.report()


def main():
    a = parse_args()
    Gst.init(None)
    Camera(a).run()
    sys.exit(0)


if __name__ == "__main__":
    main()
