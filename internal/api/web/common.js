// Helpers of both pages: building elements (always as text, never as
// HTML: everything shown comes from the API) and putting numbers, times
// and a source's health into words.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// "audio, sendonly, PCMU/8000, PCMA/8000" -> {kind, direction, codecs}
function parseMedia(s) {
  const parts = String(s).split(",").map((p) => p.trim());
  return { kind: parts[0] || "", direction: parts[1] || "", codecs: parts.slice(2) };
}

// A Go time from the API, or null for none (missing, or the zero time).
function parseTime(s) {
  if (!s) return null;
  const t = Date.parse(s);
  if (Number.isNaN(t) || t < Date.UTC(1971, 0, 1)) return null;
  return t;
}

// 75000 -> "1 min 15 s": the two largest units.
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const two = (n1, u1, n2, u2) => n1 + " " + u1 + (n2 > 0 ? " " + n2 + " " + u2 : "");
  if (s < 60) return s + " s";
  if (s < 3600) return two(Math.floor(s / 60), "min", s % 60, "s");
  if (s < 86400) return two(Math.floor(s / 3600), "h", Math.floor((s % 3600) / 60), "min");
  return two(Math.floor(s / 86400), "d", Math.floor((s % 86400) / 3600), "h");
}

// "for 5 min" after a state, from its since; "" when not known.
function forHowLong(since, now) {
  const t = parseTime(since);
  return t === null ? "" : "for " + duration((now || Date.now()) - t);
}

function clock(since) {
  const t = parseTime(since);
  return t === null ? "" : new Date(t).toLocaleString();
}

function bytes(n) {
  n = Number(n) || 0;
  if (n < 1000) return n + " B";
  const units = ["kB", "MB", "GB", "TB"];
  let i = -1;
  do { n /= 1000; i++; } while (n >= 1000 && i < units.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + " " + units[i];
}

// bits per second -> "1.2 Mbit/s"
function bitrate(bps) {
  if (bps < 1000) return Math.round(bps) + " bit/s";
  if (bps < 1e6) return (bps / 1000).toFixed(bps < 1e4 ? 1 : 0) + " kbit/s";
  return (bps / 1e6).toFixed(bps < 1e7 ? 2 : 1) + " Mbit/s";
}

function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many);
}

// The state a stream as a whole is in: online when a source is.
function streamState(producers) {
  if (producers.length === 0) return "no source";
  for (const want of ["online", "connecting", "down", "failed"]) {
    if (producers.some((p) => p.state === want)) return want;
  }
  return producers[0].state || "unknown";
}

// The numbers of a source's health as short phrases: reconnects, packets
// lost, jitter, quirks. Empty for a source with nothing to report.
function healthPhrases(p) {
  const out = [];
  if (p.reconnects > 0) out.push(plural(p.reconnects, "reconnect", "reconnects"));
  if (p.lost > 0) out.push(plural(p.lost, "packet lost", "packets lost"));
  if (p.jitter_ms > 0) out.push("jitter " + Number(p.jitter_ms).toFixed(1) + " ms");
  if (p.quirks && p.quirks.length > 0) out.push("quirks: " + p.quirks.join(", "));
  return out;
}

// The packets rtspgate dropped, by reason: "3 too big, 1 reader too slow".
function dropsText(drops) {
  const parts = [];
  for (const [why, n] of Object.entries(drops || {})) {
    if (n > 0) parts.push(n + " " + why);
  }
  return parts.join(", ");
}

// A state as a small coloured label.
function stateBadge(state) {
  return el("span", state || "unknown", "state state-" + String(state || "unknown").replace(/[^a-z]/g, ""));
}
