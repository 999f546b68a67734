// Talking to a camera from the browser: the microphone is captured (an
// AudioWorklet, or a ScriptProcessor where there is none), mixed down to
// mono, brought down to 8 kHz, encoded as G.711 (µ-law for PCMU, A-law for
// PCMA) and sent to rtspgate over a WebSocket in 20 ms messages of 160
// bytes. rtspgate passes them to the camera's backchannel.
"use strict";

// ---- G.711 ----

// mulaw encodes one 16-bit sample as G.711 µ-law: a sign, a 3-bit
// exponent (the segment) and a 4-bit mantissa of the biased magnitude, all
// bits inverted. 0 -> 0xff.
function mulaw(x) {
  let sign = 0;
  if (x < 0) {
    sign = 0x80;
    x = -x;
  }
  x = Math.min(x, 32635) + 0x84;
  let exp = 7;
  for (let bit = 0x4000; exp > 0 && (x & bit) === 0; bit >>= 1) exp--;
  return ~(sign | (exp << 4) | ((x >> (exp + 3)) & 0x0f)) & 0xff;
}

// alaw encodes one 16-bit sample as G.711 A-law: the 13-bit magnitude in a
// segment and a 4-bit mantissa, the sign bit set for positive samples and
// the even bits inverted. 0 -> 0xd5.
function alaw(x) {
  let v = x >> 3;
  let flip = 0xd5;
  if (v < 0) {
    v = -v - 1;
    flip = 0x55;
  }
  let seg = 0;
  for (let t = v >> 5; t > 0; t >>= 1) seg++;
  const mant = (seg < 2 ? v >> 1 : v >> seg) & 0x0f;
  return ((seg << 4) | mant) ^ flip;
}

// Encoders by the name of the codec in the backchannel.
const g711 = { PCMU: mulaw, PCMA: alaw };

// toInt16 turns a Web Audio sample (-1..1) into a 16-bit one.
function toInt16(f) {
  if (f >= 1) return 32767;
  if (f <= -1) return -32768;
  return Math.round(f * 32767);
}

// ---- 8 kHz ----

// Downsampler brings a stream of samples from inRate down to outRate: each
// output sample is the mean of the input samples since the one before
// (a box filter, which is also the low-pass that keeps most aliasing out).
// The fraction of the ratio carries over, so the mean rate is exact.
class Downsampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate;
    this.pos = 0;
    this.sum = 0;
    this.n = 0;
    this.last = 0;
  }

  push(block, emit) {
    for (let i = 0; i < block.length; i++) {
      this.sum += block[i];
      this.n++;
      this.pos++;
      while (this.pos >= this.step) {
        if (this.n > 0) {
          this.last = this.sum / this.n;
          this.sum = 0;
          this.n = 0;
        }
        emit(this.last); // a rate below 8 kHz repeats samples
        this.pos -= this.step;
      }
    }
  }
}

// Framer collects encoded samples into 20 ms frames (160 bytes at 8 kHz)
// and hands each full one to send.
class Framer {
  constructor(codec, send) {
    this.encode = g711[codec];
    this.send = send;
    this.frame = new Uint8Array(160);
    this.n = 0;
  }

  sample(f) {
    this.frame[this.n++] = this.encode(toInt16(f));
    if (this.n === this.frame.length) {
      this.send(this.frame);
      this.frame = new Uint8Array(160);
      this.n = 0;
    }
  }
}

// ---- the session ----

// TalkError is an error whose message is meant for the person talking.
class TalkError extends Error {}

// Messages waiting in the socket beyond this many bytes (half a second)
// mean the network is slower than the audio: frames are dropped rather than
// let the delay grow.
const maxBuffered = 4000;

function micError(e) {
  switch (e && e.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "The microphone is not allowed. Allow it for this page in the browser's site settings, then press Talk again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone cannot be opened: another program may be using it.";
  }
  return "The microphone cannot be used: " + (e && e.message ? e.message : String(e));
}

// Talk is one talk session: start() asks for the microphone, opens the
// WebSocket and sends until stop() or until rtspgate closes the socket.
// hooks.ended(text) is called once if the session ends by itself, with why.
class Talk {
  constructor(url, codec, hooks) {
    this.url = url;
    this.codec = codec;
    this.hooks = hooks;
    this.sent = 0; // messages sent
    this.dropped = 0; // frames not sent: the socket was behind
    this.peak = 0; // loudest sample since level() was last read
    this.stopped = false;
    this.ws = null;
    this.mic = null;
    this.ctx = null;
    this.nodes = [];
  }

  // start resolves once audio flows. It throws a TalkError to show, or a
  // TalkRefused when the WebSocket was refused before it opened (the
  // browser does not say why: the page asks the API).
  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new TalkError("The browser gives the microphone only to https:// pages and to pages on this computer " +
        "(localhost). Open rtspgate through https:// (for example behind a reverse proxy with a certificate) to talk.");
    }
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) throw new TalkError("This browser has no Web Audio: it cannot capture the microphone.");
    // made now, while the click still counts as a gesture, so that it may run
    this.ctx = new Ctx();
    this.hooks.step("Asking for the microphone\u2026");
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      this.release();
      throw new TalkError(micError(e));
    }
    if (this.stopped) return this.release();
    try {
      await this.capture();
      if (this.ctx.state === "suspended") await this.resume();
    } catch (e) {
      this.release();
      throw e instanceof TalkError ? e : new TalkError("The microphone cannot be captured: " + e.message);
    }
    if (this.stopped) return this.release();
    this.hooks.step("Connecting to the camera\u2026");
    await this.connect();
  }

  // capture connects microphone -> capture node -> a muted gain -> the
  // output (a node nobody pulls does not run).
  async capture() {
    const ctx = this.ctx;
    this.down = new Downsampler(ctx.sampleRate, 8000);
    this.framer = new Framer(this.codec, (frame) => this.send(frame));
    const source = ctx.createMediaStreamSource(this.mic);
    let node = null;
    if (ctx.audioWorklet && typeof AudioWorkletNode === "function") {
      try {
        await ctx.audioWorklet.addModule("talk-worklet.js");
        node = new AudioWorkletNode(ctx, "rtspgate-capture", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
        node.port.onmessage = (e) => this.feed(e.data);
      } catch (e) {
        node = null; // the ScriptProcessor below still works
      }
    }
    if (node === null) {
      node = ctx.createScriptProcessor(2048, 2, 1);
      node.onaudioprocess = (e) => {
        const b = e.inputBuffer;
        const mono = new Float32Array(b.length);
        for (let c = 0; c < b.numberOfChannels; c++) {
          const ch = b.getChannelData(c);
          for (let i = 0; i < mono.length; i++) mono[i] += ch[i] / b.numberOfChannels;
        }
        this.feed(mono);
      };
    }
    const mute = ctx.createGain();
    mute.gain.value = 0;
    source.connect(node);
    node.connect(mute);
    mute.connect(ctx.destination);
    this.nodes = [source, node, mute];
  }

  // resume starts the audio context. Without a sound output a browser may
  // leave it suspended for ever (Firefox does): say so instead of waiting.
  resume() {
    return Promise.race([
      this.ctx.resume(),
      new Promise((_, reject) => setTimeout(() => reject(new TalkError(
        "The browser's audio does not start: it may have no sound device, or may want another click on Talk.")), 5000)),
    ]);
  }

  // connect opens the WebSocket; it resolves when it is open.
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let open = false;
      ws.onopen = () => {
        open = true;
        if (this.stopped) ws.close(1000, "stopped");
        resolve();
      };
      ws.onerror = () => {}; // a close event follows, with more to say
      ws.onclose = (e) => {
        if (!open) {
          this.release();
          if (this.stopped) resolve();
          else reject(new TalkRefused());
          return;
        }
        if (this.stopped) return;
        this.stopped = true;
        this.release();
        this.hooks.ended(closeText(e));
      };
    });
  }

  feed(block) {
    if (this.stopped || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < block.length; i++) {
      const a = Math.abs(block[i]);
      if (a > this.peak) this.peak = a;
    }
    this.down.push(block, (v) => this.framer.sample(v));
  }

  send(frame) {
    if (this.ws.bufferedAmount > maxBuffered) {
      this.dropped++;
      return;
    }
    this.ws.send(frame);
    this.sent++;
  }

  // level is the peak since the last call, 0..1.
  level() {
    const p = this.peak;
    this.peak = 0;
    return Math.min(1, p);
  }

  seconds() {
    return (this.sent * 20) / 1000;
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "stopped");
    this.release();
  }

  release() {
    if (this.mic) for (const t of this.mic.getTracks()) t.stop();
    for (const n of this.nodes) {
      n.disconnect();
      if (n.port) {
        n.port.postMessage("stop");
        n.port.onmessage = null;
      }
      if (n.onaudioprocess) n.onaudioprocess = null;
    }
    this.nodes = [];
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close().catch(() => {});
    this.mic = null;
  }
}

class TalkRefused extends Error {
  constructor() {
    super("the talk connection was refused");
  }
}

// closeText says why rtspgate closed a talk socket, from its close frame.
function closeText(e) {
  switch (e.code) {
    case 4001:
      return "Talk ended: replaced by another talker (the camera takes one at a time).";
    case 1001:
      return "Talk ended: " + (e.reason || "rtspgate is stopping") + ".";
    case 1006:
      return "Talk ended: the connection to rtspgate was lost.";
  }
  return "Talk ended: " + (e.reason || "the connection closed (code " + e.code + ")") + ".";
}
