// The capture side of the talk button, run by the browser's audio thread:
// each block of the microphone is mixed down to mono and handed to the page
// in batches of 1024 samples (about 21 ms at 48 kHz), at the context's rate.
"use strict";

const batch = 1024;

class RtspgateCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new Float32Array(batch);
    this.n = 0;
    this.running = true;
    this.port.onmessage = (e) => {
      if (e.data === "stop") this.running = false;
    };
  }

  process(inputs) {
    const channels = inputs[0] || [];
    if (channels.length > 0) {
      const frames = channels[0].length;
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < channels.length; c++) sum += channels[c][i];
        this.buf[this.n++] = sum / channels.length;
        if (this.n === batch) {
          this.port.postMessage(this.buf, [this.buf.buffer]);
          this.buf = new Float32Array(batch);
          this.n = 0;
        }
      }
    }
    return this.running;
  }
}

registerProcessor("rtspgate-capture", RtspgateCapture);
