// The hub page's shell: token, API calls, hash routes (#/live, #/people, #/people/<id>, #/visitors, #/devices,
// #/search, #/training) and the polling of the view on screen. A file of its own: the Content-Security-Policy
// allows no inline script. Each view's script registers its loader with `onView`; only the view on screen is
// loaded and polled, so a hidden table costs nothing.
"use strict";
const views = new Map(); // view name -> loaders (each `async (arg) => void`)
const route = { view: "live", arg: null };

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let detail = response.statusText;
    try { const body = await response.json(); detail = JSON.stringify(body.detail); } catch (e) { /* not JSON */ }
    throw new Error(response.status + ": " + detail);
  }
  return response;
}

const postJson = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body || {}) });

function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.className = cls; b.addEventListener("click", onClick);
  return b;
}

function link(text, href, cls) {
  const a = document.createElement("a");
  a.textContent = text; a.href = href; if (cls) a.className = cls;
  return a;
}

// "12 s ago", "5 min ago", "3 h ago", else the date: how an operator reads "last seen".
function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return new Date(iso).toLocaleDateString();
}

// A thumbnail of an API image (the token goes in a header, so <img src> cannot fetch it itself).
const imageCache = new Map(); // API URL -> object URL
function apiImage(img, url) {
  if (!url) { img.removeAttribute("src"); return; }
  if (imageCache.has(url)) { img.src = imageCache.get(url); return; }
  api(url).then((r) => r.blob()).then((blob) => {
    imageCache.set(url, URL.createObjectURL(blob)); img.src = imageCache.get(url);
  }).catch(() => img.removeAttribute("src"));
}

function onView(name, loader) {
  if (!views.has(name)) views.set(name, []);
  views.get(name).push(loader);
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  if (parts[0] === "people" && parts[1]) return { view: "person", arg: parts[1] };
  const known = [...document.querySelectorAll("[data-view]")].map((el) => el.dataset.view);
  return { view: known.includes(parts[0]) ? parts[0] : "live", arg: null };
}

// Show the route's view, mark its tab, load it; `performance.mark` says when the view first drew its data.
async function show() {
  Object.assign(route, parseRoute());
  document.querySelectorAll("[data-view]").forEach((el) => { el.hidden = el.dataset.view !== route.view; });
  const tab = route.view === "person" ? "people" : route.view;
  document.querySelectorAll("#views a").forEach((a) => {
    if (a.dataset.route === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  document.title = "FaceFleet hub: " + $("#views a[aria-current]").textContent;
  document.body.dataset.rendered = "";
  if (!await loadView()) return;
  document.body.dataset.rendered = route.view; // what tests and the page benchmark wait for
  performance.mark("view-rendered:" + route.view);
}

// Load the view on screen; false without a token (nothing to load with).
async function loadView() {
  if (!token()) { say("paste an API token above and press Use token", false); return false; }
  await Promise.all((views.get(route.view) || []).map((load) => load(route.arg).catch((e) => say(e.message, false))));
  return true;
}

async function poll() {
  await loadView();
  setTimeout(poll, 2500);
}

// Coverage of a person's samples (level and advice from the API), coloured by level.
function coverageCell(row, c) {
  const td = cell(row, c.advice);
  td.className = "person-coverage coverage-" + c.level;
  td.dataset.level = c.level;
  td.title = c.samples + " sample(s), " + c.views + " view(s) kept for matching, spread " + c.spread.toFixed(2);
  return td;
}

async function loadPeople() {
  const people = await (await api("/api/people")).json();
  const body = $("#people tbody");
  body.replaceChildren();
  for (const p of people) {
    const row = body.insertRow();
    row.dataset.personId = p.id;
    const name = row.insertCell();
    name.className = "person-name";
    name.append(link(p.name, "#/people/" + encodeURIComponent(p.id), "open-person"));
    cell(row, p.samples).className = "person-samples";
    coverageCell(row, p.coverage);
    row.insertCell().append(button("Rename", "rename-person", () => renamePerson(p)),
      button("Delete", "delete-person", () => deletePerson(p)));
  }
}

// One sample card: thumbnail, quality, delete, "not this person".
function sampleCard(s) {
  const box = document.createElement("div");
  box.className = "sample"; box.dataset.sampleId = s.id;
  const img = document.createElement("img");
  img.alt = s.source;
  const check = document.createElement("input");
  check.type = "checkbox"; check.className = "select-sample"; check.value = s.id;
  check.setAttribute("aria-label", "select sample " + s.source);
  const info = document.createElement("div");
  info.textContent = "q " + s.quality.toFixed(2) + ", " + Math.round(s.face_px) + " px";
  box.append(img, check, info, button("Delete", "delete-sample", () => deleteSamples([s.id])),
    button("Not this person", "sample-not-this-person", () => window.facefleetSampleNotThisPerson(s.id)));
  apiImage(img, s.image_url);
  return box;
}

async function loadSamples(grid, personId) {
  const query = personId ? "?person_id=" + encodeURIComponent(personId) : "";
  const samples = await (await api("/api/samples" + query)).json();
  const shown = [...grid.children].map((el) => el.dataset.sampleId).join();
  if (shown !== samples.map((s) => s.id).join()) grid.replaceChildren(...samples.map(sampleCard));
  return samples;
}

// After a change: the view on screen again.
function refresh() { return loadView(); }

async function deleteSamples(ids) {
  if (!ids.length) { say("no samples selected", false); return; }
  try {
    const r = await postJson("/api/samples/delete", { ids });
    say("deleted " + (await r.json()).deleted + " sample(s)");
  } catch (e) { say(e.message, false); }
  refresh();
}

async function renamePerson(p) {
  const name = prompt("New name for " + p.name, p.name);
  if (!name) return;
  try {
    await api("/api/people/" + p.id, { method: "PATCH", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name }) });
    say("renamed to " + name);
  } catch (e) { say(e.message, false); }
  refresh();
}

async function deletePerson(p) {
  if (!confirm("Delete " + p.name + " and all samples?")) return;
  try { await api("/api/people/" + p.id, { method: "DELETE" }); say("deleted " + p.name); } catch (e) { say(e.message, false); }
  if (route.view === "person") location.hash = "#/people"; else refresh();
}

async function enroll(form, path) {
  say("enrolling…");
  const result$ = $("#enroll-result");
  try {
    const result = await (await api(path, { method: "POST", body: new FormData(form) })).json();
    const r = result.rejected;
    result$.textContent = result.faces_extracted + " face(s) extracted for " + result.person.name +
      "; rejected: no face " + r.no_face + ", too small " + r.too_small + ", blurred " + r.blurred +
      ", duplicate " + r.duplicate + ", someone else " + r.other_person + ", over limit " + r.over_limit +
      ". Coverage: " + result.person.coverage.advice + " ";
    result$.append(link("Open " + result.person.name, "#/people/" + encodeURIComponent(result.person.id)));
    say("enrolled " + result.person.name);
  } catch (e) { result$.textContent = ""; say(e.message, false); }
  refresh();
}

// The Live view: one row per track (device, camera, track id), its newest event, how many events it sent.
// 120 events are about the last 30 tracks (an agent sends about four a track); each ended one carries its
// crop (about 7 KB of base64), which is most of the view's weight.
const LIVE_EVENTS = 120, LIVE_ROWS = 30;
function groupByTrack(events) {
  const groups = new Map();
  for (const ev of events) {
    const key = ev.device_id + "/" + ev.camera + "/" + ev.track_id;
    const group = groups.get(key);
    if (group) {
      group.count += 1;
      if (!group.crop && ev.best_crop_jpeg_b64) group.crop = ev.best_crop_jpeg_b64;
      if (!group.name && ev.name) group.name = ev.name;
    } else {
      groups.set(key, { latest: ev, count: 1, crop: ev.best_crop_jpeg_b64, name: ev.name });
    }
  }
  return [...groups.values()];
}

async function loadLive() {
  const recent = await (await api("/api/events/recent?limit=" + LIVE_EVENTS)).json();
  const c = recent.counts;
  $("#live-counts").textContent = "(" + c.received + " events, " + c.duplicates + " repeats dropped, " +
    c.malformed + " refused)";
  const body = $("#live tbody");
  body.replaceChildren();
  for (const g of groupByTrack(recent.events).slice(0, LIVE_ROWS)) {
    const ev = g.latest, row = body.insertRow();
    row.className = "live-event"; row.dataset.eventId = ev.event_id;
    const face = row.insertCell();
    if (g.crop) {
      const img = document.createElement("img");
      img.className = "crop"; img.alt = g.name || "unknown";
      img.src = "data:image/jpeg;base64," + g.crop;
      face.append(img);
    }
    cell(row, new Date(ev.ts).toLocaleTimeString()).title = ev.ts;
    cell(row, ev.device_id + " / " + ev.camera);
    cell(row, ev.track_id);
    cell(row, ev.type);
    cell(row, g.name || (ev.type === "track_started" ? "?" : "unknown")).className = "live-identity";
    cell(row, ev.confidence.toFixed(2));
    cell(row, g.count > 1 ? "×" + g.count : "").className = "live-count";
  }
}

function modelLine(m) {
  const j = m.reembed;
  let line = "Hub model: " + m.model_id;
  if (j && j.state === "running") line += "; re-embedding the library with " + j.model_id + ": " + j.done + " / " + j.total;
  if (j && j.state === "failed") line += "; switching to " + j.model_id + " failed: " + j.error;
  return line;
}

async function loadModel() {
  $("#hub-model").textContent = modelLine(await (await api("/api/models/active")).json());
  const a = await (await api("/api/training/availability")).json();
  $("#training-unavailable").hidden = a.available;
  $("#training-unavailable").textContent = a.detail;
  $("#train-start").disabled = !a.available;
}

async function loadTraining() {
  const body = $("#training tbody");
  try {
    const jobs = await (await api("/api/training")).json();
    body.replaceChildren();
    for (const j of jobs.reverse()) {
      const p = j.progress || {}, r = j.report;
      const row = body.insertRow();
      row.className = "training-job"; row.dataset.jobId = j.job_id; row.dataset.state = j.state;
      [j.job_id, j.state, p.phase || "", p.step !== undefined ? p.step + " / " + p.max_steps : "",
       p.loss != null ? p.loss.toFixed(3) : "",
       p.held_out_accuracy != null ? (100 * p.held_out_accuracy).toFixed(1) + "%" : "",
       j.released_model ? "model " + j.released_model + ", gallery " + j.released_gallery : (r ? "no" : ""),
       r ? (r.released ? r.checks : r.reasons).join("; ") : j.error].forEach((t) => cell(row, t));
    }
  } catch (e) {
    body.replaceChildren();
    cell(body.insertRow(), "training needs an admin token (" + e.message + ")");
  }
}

async function startTraining() {
  try {
    const r = await postJson("/api/training", { max_steps: parseInt($("#train-steps").value, 10) });
    say("training job " + (await r.json()).job_id + " started");
    await loadTraining();
  } catch (e) { say(e.message, false); }
}

async function cancelTraining() {
  const running = document.querySelector('#training tr[data-state="running"], #training tr[data-state="queued"]');
  if (!running) { say("no training job is running", false); return; }
  try {
    await api("/api/training/" + running.dataset.jobId + "/cancel", { method: "POST" });
    say("cancelling " + running.dataset.jobId);
  } catch (e) { say(e.message, false); }
}

onView("live", loadLive);
onView("people", () => Promise.all([loadPeople(), loadSamples($("#samples"), null)]));
onView("training", () => Promise.all([loadTraining(), loadModel()]));

$("#photos-form").addEventListener("submit", (ev) => { ev.preventDefault(); enroll(ev.target, "/api/samples/photos"); });
$("#video-form").addEventListener("submit", (ev) => { ev.preventDefault(); enroll(ev.target, "/api/samples/video"); });
$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault(); localStorage.setItem("facefleet-token", $("#token").value); say("token saved"); show();
});
$("#delete-selected").addEventListener("click", () =>
  deleteSamples([...document.querySelectorAll(".select-sample:checked")].map((c) => c.value)));
$("#optimize").addEventListener("click", async () => {
  try {
    const r = await postJson("/api/samples/optimize", { max_per_person: Number($("#keep").value) || null });
    say("optimize removed " + (await r.json()).deleted + " sample(s)");
  } catch (e) { say(e.message, false); }
  refresh();
});
$("#train-start").addEventListener("click", startTraining);
$("#train-cancel").addEventListener("click", cancelTraining);
window.addEventListener("hashchange", show);
if (token()) $("#token").value = token();
// The other views' scripts load after this one: start once they have registered.
window.addEventListener("DOMContentLoaded", () => { show(); setTimeout(poll, 2500); });
