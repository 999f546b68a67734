// The stream list: every stream with its state, readers, bitrate and
// health, from GET api/streams every 2 s. The list never connects a
// camera; the bitrate is what came in between two refreshes.
"use strict";

const refreshMS = 2000;
let previous = new Map(); // name -> {bytes, at}: the last refresh, for the bitrate

// rateOf is the bitrate of stream name since the last refresh, or null
// when there is nothing to compare with yet.
function rateOf(name, s, at, seen) {
  const now = Number(s.bytes_in) || 0;
  seen.set(name, { bytes: now, at: at });
  const prev = previous.get(name);
  if (!prev || now < prev.bytes || at <= prev.at) return null;
  return ((now - prev.bytes) * 8 * 1000) / (at - prev.at);
}

function cell(label, cls) {
  const td = el("td", undefined, cls);
  td.dataset.label = label;
  return td;
}

function healthCell(s) {
  const td = cell("Health", "health");
  const producers = s.producers || [];
  let said = false;
  producers.forEach((p, i) => {
    const who = producers.length > 1 ? "Source " + (i + 1) + ": " : "";
    if (p.last_error) {
      td.append(el("div", who + p.last_error, "error"));
      said = true;
    }
    const phrases = healthPhrases(p);
    if (phrases.length > 0) {
      td.append(el("div", who + phrases.join(" \u00b7 ")));
      said = true;
    }
  });
  const drops = dropsText(s.drops);
  if (drops) {
    td.append(el("div", "dropped: " + drops, "warn"));
    said = true;
  }
  if (!said) td.append(el("span", "no problems seen", "muted"));
  return td;
}

function row(name, s, rate) {
  const tr = el("tr");
  tr.dataset.stream = name;
  const producers = s.producers || [];

  const nameCell = cell("Stream", "name");
  const link = el("a", name);
  link.href = "stream.html?src=" + encodeURIComponent(name);
  nameCell.append(link);
  for (const p of producers) nameCell.append(el("div", p.url || "(publisher)", "src"));
  if (producers.length === 0) nameCell.append(el("div", "waits for a publisher", "src"));

  const state = streamState(producers);
  const stateCell = cell("State", "state-cell");
  stateCell.append(stateBadge(state));
  const lead = producers.find((p) => p.state === state);
  const since = lead ? forHowLong(lead.since) : "";
  if (since) stateCell.append(el("span", " " + since, "muted small"));

  const readers = (s.consumers || []).length;
  const readersCell = cell("Readers", "num");
  readersCell.textContent = String(readers);

  const rateCell = cell("Bitrate", "num");
  rateCell.textContent = rate === null ? "\u2014" : bitrate(rate);

  tr.append(nameCell, stateCell, readersCell, rateCell, healthCell(s));
  return tr;
}

function show(data, at) {
  const names = Object.keys(data).sort();
  const seen = new Map();
  const rows = names.map((name) => row(name, data[name] || {}, rateOf(name, data[name] || {}, at, seen)));
  previous = seen;
  $("rows").replaceChildren(...rows);
  $("streams").hidden = names.length === 0;
  $("empty").hidden = names.length > 0;
}

async function refresh() {
  const status = $("status");
  try {
    const res = await fetch("api/streams", { cache: "no-store" });
    const data = await res.json();
    if (!res.ok) throw new Error("error " + res.status + ": " + (data.error || res.statusText));
    show(data, performance.now());
    status.hidden = true;
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " + refreshMS / 1000 + " s.";
  } catch (e) {
    status.hidden = false;
    status.className = "error";
    status.textContent = "Cannot get the streams from rtspgate (" + e.message + "); trying again.";
  }
  setTimeout(refresh, refreshMS);
}

refresh();
