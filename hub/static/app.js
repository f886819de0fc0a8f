// The hub page's script (a file of its own: the Content-Security-Policy allows no inline script).
"use strict";
const state = { personId: null, thumbs: [] };
const $ = (sel) => document.querySelector(sel);

function token() { return localStorage.getItem("facefleet-token") || ""; }

function say(text, ok = true) {
  const el = $("#status");
  el.textContent = text;
  el.className = ok ? "ok" : "error";
}

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

function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.textContent = text; b.className = cls; b.addEventListener("click", onClick);
  return b;
}

// How well a person's samples cover them (level and advice from the API), coloured by level.
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
    if (p.id === state.personId) row.className = "selected";
    cell(row, p.name).className = "person-name";
    cell(row, p.samples).className = "person-samples";
    coverageCell(row, p.coverage);
    const actions = row.insertCell();
    actions.append(button("Samples", "show-person", () => { state.personId = p.id; refresh(); }),
      button("Rename", "rename-person", () => renamePerson(p)),
      button("Delete", "delete-person", () => deletePerson(p)));
  }
}

async function loadSamples() {
  const query = state.personId ? "?person_id=" + encodeURIComponent(state.personId) : "";
  const samples = await (await api("/api/samples" + query)).json();
  state.thumbs.forEach(URL.revokeObjectURL);
  state.thumbs = [];
  const grid = $("#samples");
  grid.replaceChildren();
  for (const s of samples) {
    const box = document.createElement("div");
    box.className = "sample"; box.dataset.sampleId = s.id;
    const img = document.createElement("img");
    img.alt = s.source;
    const check = document.createElement("input");
    check.type = "checkbox"; check.className = "select-sample"; check.value = s.id;
    const info = document.createElement("div");
    info.textContent = "q " + s.quality.toFixed(2) + ", " + Math.round(s.face_px) + " px";
    box.append(img, check, info, button("Delete", "delete-sample", () => deleteSamples([s.id])),
      button("Not this person", "sample-not-this-person", () => window.facefleetSampleNotThisPerson(s.id)));
    grid.append(box);
    api(s.image_url).then((r) => r.blob()).then((blob) => {
      const url = URL.createObjectURL(blob); state.thumbs.push(url); img.src = url;
    }).catch((e) => say(e.message, false));
  }
  $("#samples-of").textContent = state.personId ? "(one person)" : "(everyone)";
}

async function loadDevices() {
  const body = $("#devices tbody");
  body.replaceChildren();
  try {
    for (const d of await (await api("/api/devices")).json()) {
      const row = body.insertRow();
      [d.id, d.state, d.group, d.model_version || d.model_id, d.gallery_version, d.last_seen].forEach((t) => cell(row, t));
    }
  } catch (e) {
    cell(body.insertRow(), "devices need an admin token (" + e.message + ")");
  }
}

async function loadLive() {
  const body = $("#live tbody");
  try {
    const recent = await (await api("/api/events/recent?limit=30")).json();
    const c = recent.counts;
    $("#live-counts").textContent = "(" + c.received + " events, " + c.duplicates + " repeats dropped, " +
      c.malformed + " refused)";
    body.replaceChildren();
    for (const ev of recent.events) {
      const row = body.insertRow();
      row.className = "live-event"; row.dataset.eventId = ev.event_id;
      const face = row.insertCell();
      if (ev.best_crop_jpeg_b64) {
        const img = document.createElement("img");
        img.className = "crop"; img.alt = ev.name || "unknown";
        img.src = "data:image/jpeg;base64," + ev.best_crop_jpeg_b64;
        face.append(img);
      }
      cell(row, new Date(ev.ts).toLocaleTimeString());
      cell(row, ev.device_id + " / " + ev.camera);
      cell(row, ev.track_id);
      cell(row, ev.type);
      cell(row, ev.name || (ev.type === "track_started" ? "?" : "unknown")).className = "live-identity";
      cell(row, ev.confidence.toFixed(2));
    }
  } catch (e) {
    $("#live-counts").textContent = "(" + e.message + ")";
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
  try {
    $("#hub-model").textContent = modelLine(await (await api("/api/models/active")).json());
    const a = await (await api("/api/training/availability")).json();
    $("#training-unavailable").hidden = a.available;
    $("#training-unavailable").textContent = a.detail;
    $("#train-start").disabled = !a.available;
  } catch (e) { $("#hub-model").textContent = "(" + e.message + ")"; }
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
    const steps = parseInt($("#train-steps").value, 10);
    const r = await api("/api/training", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ max_steps: steps }) });
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

async function poll() {
  if (token()) await Promise.all([loadLive(), loadDevices(), loadTraining(), loadModel()]);
  setTimeout(poll, 2000);
}

async function refresh() {
  try { await Promise.all([loadPeople(), loadSamples(), loadDevices()]); } catch (e) { say(e.message, false); }
}

async function deleteSamples(ids) {
  if (!ids.length) { say("no samples selected", false); return; }
  try {
    const r = await api("/api/samples/delete", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids }) });
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
  if (state.personId === p.id) state.personId = null;
  refresh();
}

async function enroll(form, path) {
  say("enrolling…");
  try {
    const result = await (await api(path, { method: "POST", body: new FormData(form) })).json();
    const r = result.rejected;
    $("#enroll-result").textContent = result.faces_extracted + " face(s) extracted for " + result.person.name +
      "; rejected: no face " + r.no_face + ", too small " + r.too_small + ", blurred " + r.blurred +
      ", duplicate " + r.duplicate + ", someone else " + r.other_person + ", over limit " + r.over_limit + ". Coverage: " + result.person.coverage.advice;
    state.personId = result.person.id;
    say("enrolled " + result.person.name);
  } catch (e) { $("#enroll-result").textContent = ""; say(e.message, false); }
  refresh();
}

$("#photos-form").addEventListener("submit", (ev) => { ev.preventDefault(); enroll(ev.target, "/api/samples/photos"); });
$("#video-form").addEventListener("submit", (ev) => { ev.preventDefault(); enroll(ev.target, "/api/samples/video"); });
$("#save-token").addEventListener("click", () => { localStorage.setItem("facefleet-token", $("#token").value); refresh(); });
$("#delete-selected").addEventListener("click", () =>
  deleteSamples([...document.querySelectorAll(".select-sample:checked")].map((c) => c.value)));
$("#optimize").addEventListener("click", async () => {
  try {
    const r = await api("/api/samples/optimize", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ max_per_person: Number($("#keep").value) || null, person_id: state.personId }) });
    say("optimize removed " + (await r.json()).deleted + " sample(s)");
  } catch (e) { say(e.message, false); }
  refresh();
});
if (token()) { $("#token").value = token(); refresh(); }
poll();
$("#train-start").addEventListener("click", startTraining);
$("#train-cancel").addEventListener("click", cancelTraining);
