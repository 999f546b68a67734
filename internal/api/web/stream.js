// The stream page: asks the API to probe one stream and shows its tracks,
// whether it has two-way audio (with a Talk button), the health of its
// sources, its readers and the RTSP URLs to copy. Health and readers are
// refreshed every 2 s from the stream list, which connects nothing.
// Everything from the API is put in the page as text, never as HTML.
"use strict";

const refreshMS = 2000;

const directions = {
  recvonly: "we receive",
  sendonly: "we may send (backchannel)",
  sendrecv: "both ways",
};

// backchannelCodecs are the codecs of every sendonly audio media.
function backchannelCodecs(producers) {
  const codecs = [];
  for (const p of producers) {
    for (const m of (p.medias || []).map(parseMedia)) {
      if (m.kind === "audio" && m.direction === "sendonly") {
        for (const c of m.codecs) if (!codecs.includes(c)) codecs.push(c);
      }
    }
  }
  return codecs;
}

// twoWay returns the line about the backchannel: the codecs of every
// sendonly audio media, or why there is none when a source says why.
function twoWay(producers) {
  const codecs = backchannelCodecs(producers);
  const reasons = [];
  for (const p of producers) {
    const why = p.backchannel_unavailable;
    if (why && !reasons.includes(why)) reasons.push(why);
  }
  if (codecs.length > 0) {
    return { yes: true, codecs: codecs, text: "Two-way audio: yes \u2014 " + codecs.join(", ") };
  }
  let text = "Two-way audio: no";
  if (reasons.length > 0) text += " (" + reasons.join("; ") + ")";
  return { yes: false, codecs: codecs, text: text };
}

// healthList is a source's health as a list of names and values.
function healthList(p) {
  const dl = el("dl", undefined, "health");
  const add = (name, value, cls) => {
    dl.append(el("dt", name));
    dl.append(el("dd", value, cls));
  };
  const since = clock(p.since);
  add("State", (p.state || "unknown") + (since ? " since " + since + " (" + forHowLong(p.since) + ")" : ""), "state-" + (p.state || ""));
  add("Reconnects", String(p.reconnects || 0));
  add("Packets lost", String(p.lost || 0), p.lost > 0 ? "warn" : "");
  add("Jitter", Number(p.jitter_ms || 0).toFixed(1) + " ms");
  add("Quirks", p.quirks && p.quirks.length > 0 ? p.quirks.join(", ") : "none seen");
  return dl;
}

function showProducers(producers) {
  const box = $("producers");
  box.replaceChildren();
  if (producers.length === 0) {
    box.append(el("p", "No sources: the stream waits for a publisher.", "muted"));
    return;
  }
  for (const p of producers) {
    const card = el("div", undefined, "card");
    card.append(el("div", p.url || "(publisher)", "url"));
    if (p.last_error) card.append(el("div", "Last error: " + p.last_error, "error"));
    card.append(healthList(p));
    const medias = (p.medias || []).map(parseMedia);
    if (medias.length === 0) {
      card.append(el("div", "No tracks known yet.", "muted"));
    } else {
      const table = el("table");
      const head = el("tr");
      for (const h of ["Kind", "Direction", "Codecs"]) head.append(el("th", h));
      table.append(head);
      for (const m of medias) {
        const row = el("tr");
        row.append(el("td", m.kind));
        row.append(el("td", m.direction + (directions[m.direction] ? " \u2014 " + directions[m.direction] : "")));
        row.append(el("td", m.codecs.join(", ")));
        table.append(row);
      }
      card.append(table);
    }
    box.append(card);
  }
}

function copyText(text, button) {
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
  // the clipboard API needs https or localhost; plain http on a LAN does not have it
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
    return;
  }
  const area = el("textarea");
  area.value = text;
  document.body.append(area);
  area.select();
  try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selectable */ }
  area.remove();
}

function showURLs(name, port, hasTalk) {
  const list = $("urls");
  list.replaceChildren();
  $("no-rtsp").hidden = Boolean(port);
  if (!port) return;
  // location.hostname keeps an IPv6 address in brackets
  const base = "rtsp://" + location.hostname + ":" + port + "/" + encodeURIComponent(name);
  const urls = [
    [base, "the tracks rtsp.default_query picks (first video and first audio unless configured)"],
    [base + "?video", "video only"],
    [base + "?audio", "audio only"],
    [base + "?video=all&audio=all", "every track"],
    [base + "?mp4", "only the codecs an MP4 file can hold (for recorders)"],
  ];
  if (hasTalk) urls.push([base + "?backchannel=1", "with the backchannel: send audio to the camera"]);
  for (const [url, note] of urls) {
    const li = el("li");
    const line = el("div", undefined, "line");
    const button = el("button", "Copy");
    button.type = "button";
    button.addEventListener("click", () => copyText(url, button));
    line.append(el("code", url), button);
    li.append(line, el("div", note, "note"));
    list.append(li);
  }
}

function showConsumers(consumers) {
  const list = $("consumers");
  list.replaceChildren();
  $("no-consumers").hidden = consumers.length > 0;
  for (const c of consumers) {
    const parts = [c.format_name, c.protocol, c.remote_addr];
    const since = forHowLong(c.since);
    if (since) parts.push("reading " + since);
    if (c.bytes_send !== undefined) parts.push(bytes(c.bytes_send) + " sent (" + plural(c.packets_send || 0, "packet", "packets") + ")");
    list.append(el("li", parts.filter(Boolean).join(" \u00b7 ")));
  }
}

function showTraffic(s) {
  const parts = [];
  if (s.bytes_in !== undefined) parts.push(bytes(s.bytes_in) + " in (" + plural(s.packets_in || 0, "packet", "packets") + ")");
  const drops = dropsText(s.drops);
  if (drops) parts.push("dropped: " + drops);
  $("traffic").textContent = parts.join(" \u00b7 ");
}

// ---- talk ----

let talk = null; // the Talk in progress
let talkTimer = 0;

function talkStatus(text, cls) {
  const st = $("talk-status");
  st.textContent = text;
  st.className = cls || "";
}

// talkCodec is the codec the page sends: the first of the camera's that is
// G.711 at 8 kHz.
function talkCodec(codecs) {
  for (const c of codecs) {
    const m = /^(PCMU|PCMA)(\/8000)?$/i.exec(c);
    if (m) return { name: m[1].toUpperCase(), label: c };
  }
  return null;
}

function setupTalk(name, codecs) {
  const box = $("talk-box");
  const button = $("talk-button");
  box.hidden = codecs.length === 0;
  if (codecs.length === 0 || talk) return;
  const codec = talkCodec(codecs);
  if (!codec) {
    button.disabled = true;
    talkStatus("The browser can send only G.711 (PCMU or PCMA at 8 kHz); this camera takes " + codecs.join(", ") + ".", "muted");
    return;
  }
  button.disabled = false;
  talkStatus("Press Talk and speak: the camera plays what the microphone hears (" + codec.label + ").", "muted");
  button.onclick = () => (talk ? stopTalk("Stopped") : startTalk(name, codec));
}

function talkURL(name, codec) {
  const u = new URL("api/talk", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.search = "?dst=" + encodeURIComponent(name) + "&codec=" + codec;
  return u.href;
}

function talkEnded(text, cls) {
  clearInterval(talkTimer);
  talk = null;
  $("talk-button").textContent = "Talk";
  $("talk-button").classList.remove("on");
  $("talk-level").hidden = true;
  talkStatus(text, cls);
}

function stopTalk(word) {
  const t = talk;
  if (!t) return;
  t.stop();
  talkEnded(word + (t.sent > 0 ? " after " + t.seconds().toFixed(1) + " s." : "."), "muted");
}

async function startTalk(name, codec) {
  const t = new Talk(talkURL(name, codec.name), codec.name, {
    step: (text) => { if (talk === t) talkStatus(text, "muted"); },
    ended: (text) => { if (talk === t) talkEnded(text, "error"); },
  });
  talk = t;
  const button = $("talk-button");
  button.textContent = "Stop talking";
  button.classList.add("on");
  try {
    await t.start();
  } catch (e) {
    if (talk !== t) return;
    if (e instanceof TalkRefused) {
      talkEnded("Talk refused: " + (await whyRefused(name)), "error");
    } else {
      talkEnded(e instanceof TalkError ? e.message : "Talk failed: " + e.message, "error");
    }
    return;
  }
  if (talk !== t || t.stopped) return;
  const level = $("talk-level");
  level.hidden = false;
  const tick = () => {
    level.value = t.level();
    const st = $("talk-status");
    st.dataset.sent = String(t.sent);
    talkStatus("Talking to the camera (" + codec.label + "): " + t.seconds().toFixed(1) + " s sent" +
      (t.dropped > 0 ? ", " + t.dropped + " frames dropped (the network is slow)" : "") + ".", "talking");
  };
  tick();
  talkTimer = setInterval(tick, 250);
}

// whyRefused asks the API why the talk WebSocket was refused: a browser
// does not tell a page the status of a refused WebSocket.
async function whyRefused(name) {
  try {
    const res = await fetch("api/streams?src=" + encodeURIComponent(name), { cache: "no-store" });
    const data = await res.json();
    if (res.status === 404) return "no such stream (" + (data.error || "") + ").";
    if (!res.ok) return (data.error || "error " + res.status) + ".";
    const tw = twoWay(data.producers || []);
    if (!tw.yes) return tw.text.replace("Two-way audio: no", "the stream has no backchannel now") + ".";
  } catch (e) {
    return "rtspgate cannot be reached (" + e.message + ").";
  }
  return "rtspgate did not accept the connection (a proxy in front of it may not pass WebSockets, or may change the Host); its log says why.";
}

// ---- loading ----

let probed = []; // the producers as the probe saw them, with their tracks

// refresh updates health and readers from the list; the tracks stay
// those of the probe when the list has none (a source not connected).
async function refresh(name) {
  try {
    const res = await fetch("api/streams", { cache: "no-store" });
    if (res.ok) {
      const all = await res.json();
      const s = all && all[name];
      if (s) {
        const producers = (s.producers || []).map((p, i) => {
          if (p.medias && p.medias.length > 0) return p;
          const q = probed.find((x) => x.url === p.url) || probed[i];
          return q ? Object.assign({}, p, { medias: q.medias }) : p;
        });
        showProducers(producers);
        showConsumers(s.consumers || []);
        showTraffic(s);
        $("updated").textContent = "Health and readers updated " + new Date().toLocaleTimeString() + ".";
      }
    }
  } catch (e) {
    /* the next refresh tries again; the probe's picture stays */
  }
  setTimeout(() => refresh(name), refreshMS);
}

async function probe(name) {
  const status = $("status");
  status.className = "";
  status.textContent = "Probing the stream\u2026 (a camera may take a few seconds to answer)";
  status.hidden = false;
  let res, data;
  try {
    res = await fetch("api/streams?src=" + encodeURIComponent(name) + "&video=all&audio=all&microphone", { cache: "no-store" });
    data = await res.json();
  } catch (e) {
    status.className = "error";
    status.textContent = "Cannot reach rtspgate: " + e.message;
    return false;
  }
  if (!res.ok) {
    status.className = "error";
    status.textContent = (res.status === 404 ? "Not found: " : "Error " + res.status + ": ") + (data.error || res.statusText);
    $("info").hidden = true;
    return false;
  }
  const producers = data.producers || [];
  probed = producers;
  const tw = twoWay(producers);
  const line = $("talk");
  line.textContent = tw.text;
  line.className = "talk " + (tw.yes ? "yes" : "no");
  setupTalk(name, tw.codecs);
  showProducers(producers);
  showURLs(name, data.rtsp_port, tw.yes);
  showConsumers(data.consumers || []);
  showTraffic(data);
  status.hidden = true;
  $("info").hidden = false;
  return true;
}

async function main() {
  const name = new URLSearchParams(location.search).get("src");
  if (!name) {
    $("title").textContent = "Which stream?";
    $("status").hidden = true;
    $("pick").hidden = false;
    $("pick-src").focus();
    return;
  }
  $("title").textContent = name;
  document.title = name + " \u00b7 rtspgate";
  $("refresh").addEventListener("click", () => probe(name));
  if (await probe(name)) setTimeout(() => refresh(name), refreshMS);
}

main();
