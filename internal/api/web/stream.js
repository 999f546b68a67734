// The stream page: asks the API to probe one stream and shows its tracks,
// whether it has two-way audio, and the RTSP URLs to copy. Everything from
// the API is put in the page as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// "audio, sendonly, PCMU/8000, PCMA/8000" -> {kind, direction, codecs}
function parseMedia(s) {
  const parts = String(s).split(",").map((p) => p.trim());
  return { kind: parts[0] || "", direction: parts[1] || "", codecs: parts.slice(2) };
}

const directions = {
  recvonly: "we receive",
  sendonly: "we may send (backchannel)",
  sendrecv: "both ways",
};

// twoWay returns the line about the backchannel: the codecs of every
// sendonly audio media, or why there is none when a source says why.
function twoWay(producers) {
  const codecs = [];
  const reasons = [];
  for (const p of producers) {
    for (const m of (p.medias || []).map(parseMedia)) {
      if (m.kind === "audio" && m.direction === "sendonly") {
        for (const c of m.codecs) if (!codecs.includes(c)) codecs.push(c);
      }
    }
    const why = p.backchannel_unavailable;
    if (why && !reasons.includes(why)) reasons.push(why);
  }
  if (codecs.length > 0) {
    return { yes: true, text: "Two-way audio: yes \u2014 " + codecs.join(", ") };
  }
  let text = "Two-way audio: no";
  if (reasons.length > 0) text += " (" + reasons.join("; ") + ")";
  return { yes: false, text: text };
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
    if (p.state) card.append(el("div", "State: " + p.state, "muted"));
    if (p.last_error) card.append(el("div", "Last error: " + p.last_error, "error"));
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
  ];
  if (hasTalk) urls.push([base + "?backchannel=1", "with the backchannel: send audio to the camera"]);
  for (const [url, note] of urls) {
    const li = el("li");
    const code = el("code", url);
    const button = el("button", "Copy");
    button.type = "button";
    button.addEventListener("click", () => copyText(url, button));
    const line = el("div", note, "note");
    line.append(button);
    li.append(code, line);
    list.append(li);
  }
}

function showConsumers(consumers) {
  const list = $("consumers");
  list.replaceChildren();
  $("no-consumers").hidden = consumers.length > 0;
  for (const c of consumers) {
    list.append(el("li", [c.format_name, c.protocol, c.remote_addr].filter(Boolean).join(" \u00b7 ")));
  }
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
    return;
  }
  if (!res.ok) {
    status.className = "error";
    status.textContent = (res.status === 404 ? "Not found: " : "Error " + res.status + ": ") + (data.error || res.statusText);
    $("info").hidden = true;
    return;
  }
  const producers = data.producers || [];
  const talk = twoWay(producers);
  const line = $("talk");
  line.textContent = talk.text;
  line.className = "talk " + (talk.yes ? "yes" : "no");
  showProducers(producers);
  showURLs(name, data.rtsp_port, talk.yes);
  showConsumers(data.consumers || []);
  status.hidden = true;
  $("info").hidden = false;
}

function main() {
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
  probe(name);
}

main();
