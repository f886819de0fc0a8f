"use strict";
// Devices & rollouts (#/devices): each device's state, versions and latest stats; the galleries and models
// that exist; start a rollout (targets and canaries ticked in the device table), watch each device move
// (pending, announced, downloading, verifying, applied, failed, rolled back), halt it, roll back (roll out
// the version before it to the same devices). `$`, `api`, `postJson`, `cell`, `button`, `ago`, `say` and
// `onView` are the page's own (app.js). Needs an admin token.
(() => {
  const artifacts = { gallery: [], model: [] }; // oldest first, as the API lists them
  const RUNNING = new Set(["canary", "rolling"]);

  // Sum of fps, dropped frames and the worst lag over a device's cameras ("" before its first stats).
  function statCells(row, stats) {
    const cams = stats ? Object.values(stats.cameras) : [];
    if (!cams.length) { ["", "", ""].forEach((t) => cell(row, t)); return; }
    cell(row, cams.reduce((n, c) => n + c.fps, 0).toFixed(1)).className = "device-fps";
    cell(row, cams.reduce((n, c) => n + c.dropped, 0));
    cell(row, Math.round(Math.max(...cams.map((c) => c.lag_ms))) + " ms");
  }

  // A target or canary checkbox; the same element moves to the new row on each refresh, so a tick (or a
  // click in flight) survives the table being redrawn.
  function tick(row, cls, id, kept) {
    let box = kept.get(cls + "/" + id);
    if (!box) {
      box = document.createElement("input");
      box.type = "checkbox"; box.className = cls; box.value = id;
      box.setAttribute("aria-label", (cls === "rollout-canary" ? "canary " : "target ") + id);
    }
    row.insertCell().append(box);
  }

  async function loadDevices() {
    const body = $("#devices tbody");
    const kept = new Map([...body.querySelectorAll("input")].map((b) => [b.className + "/" + b.value, b]));
    const devices = await (await api("/api/devices")).json();
    body.replaceChildren();
    for (const d of devices) {
      const row = body.insertRow();
      row.className = "device"; row.dataset.deviceId = d.id; row.dataset.state = d.state;
      tick(row, "rollout-target", d.id, kept);
      tick(row, "rollout-canary", d.id, kept);
      cell(row, d.id).className = "device-id";
      cell(row, d.state).className = "device-state state-" + d.state;
      cell(row, d.group);
      cell(row, d.model_version || d.model_id).title = d.model_id;
      cell(row, d.gallery_version).className = "device-gallery";
      statCells(row, d.stats);
      cell(row, ago(d.last_seen)).title = d.last_seen;
    }
  }

  function artifactRows(kind, table, columns) {
    const body = $(table + " tbody");
    body.replaceChildren();
    for (const a of [...artifacts[kind]].reverse()) {
      const row = body.insertRow();
      row.dataset.version = a.version;
      columns(a).forEach((t) => cell(row, t));
    }
  }

  async function loadArtifacts() {
    const [galleries, models] = await Promise.all([api("/api/galleries"), api("/api/models")]);
    artifacts.gallery = await galleries.json();
    artifacts.model = await models.json();
    const when = (a) => new Date(a.created).toLocaleString();
    artifactRows("gallery", "#galleries", (a) => [a.version, a.model_id, a.people, a.templates, when(a), a.revoked ? "yes" : ""]);
    artifactRows("model", "#models", (a) => [a.version, a.model_id, (a.size / 1e6).toFixed(1) + " MB", when(a), a.revoked ? "yes" : ""]);
    versionChoices();
  }

  // The version list of the chosen kind, newest first; the choice survives a refresh.
  function versionChoices() {
    const select = $("#rollout-version"), kept = select.value;
    const servable = [...artifacts[$("#rollout-kind").value]].reverse().filter((a) => !a.revoked);
    select.replaceChildren(...servable.map((a) => new Option(a.version + " (" + a.model_id + ")", a.version)));
    if (servable.some((a) => a.version === kept)) select.value = kept;
  }

  function progressChip(d) {
    const chip = document.createElement("li");
    chip.className = "progress state-" + d.state + (d.canary ? " canary" : "");
    chip.dataset.deviceId = d.device_id; chip.dataset.state = d.state;
    chip.textContent = d.device_id + (d.canary ? " (canary)" : "") + ": " + d.state.replace("_", " ");
    if (d.detail) chip.title = d.detail;
    return chip;
  }

  // The version of the same kind made just before `version` (what a roll back goes to), or null.
  function previous(kind, version) {
    const list = artifacts[kind].filter((a) => !a.revoked);
    const i = list.findIndex((a) => a.version === version);
    return i > 0 ? list[i - 1].version : null;
  }

  function rolloutCard(r) {
    const card = document.createElement("article");
    card.className = "rollout"; card.dataset.rolloutId = r.id; card.dataset.state = r.state;
    const title = document.createElement("h3");
    title.textContent = r.kind + " " + r.version + ": " + r.state.replaceAll("_", " ");
    const info = document.createElement("p");
    info.className = "muted";
    info.textContent = "started " + ago(r.created) + ", updated " + ago(r.updated) + (r.detail ? "; " + r.detail : "");
    const list = document.createElement("ul");
    list.className = "progress-list";
    list.append(...r.devices.map(progressChip));
    card.append(title, info, list);
    if (RUNNING.has(r.state)) card.append(button("Halt", "halt-rollout", () => halt(r)));
    const back = previous(r.kind, r.version);
    if (back) card.append(button("Roll back to " + back, "rollback-rollout", () => rollBack(r, back)));
    return card;
  }

  async function loadRollouts() {
    const rollouts = await (await api("/api/rollouts")).json();
    $("#rollouts").replaceChildren(...(rollouts.length ? rollouts.slice(0, 10).map(rolloutCard)
      : [document.createTextNode("No rollout yet.")]));
  }

  async function act(what, call) {
    try { say(what(await (await call()).json())); } catch (e) { say(e.message, false); }
    await load();
  }

  function halt(r) {
    act(() => "rollout " + r.id + " halted", () => api("/api/rollouts/" + r.id + "/halt", { method: "POST" }));
  }

  function rollBack(r, version) {
    if (!confirm("Roll " + r.devices.length + " device(s) back to " + r.kind + " " + version + "?")) return;
    act((n) => "rolling back to " + version + " (rollout " + n.id + ")", () => postJson("/api/rollouts",
      { kind: r.kind, version, devices: r.devices.map((d) => d.device_id) }));
  }

  function startRollout(event) {
    event.preventDefault();
    const ticked = (cls) => [...document.querySelectorAll("#devices ." + cls + ":checked")].map((b) => b.value);
    const body = { kind: $("#rollout-kind").value, version: $("#rollout-version").value, canaries: ticked("rollout-canary") };
    const targets = ticked("rollout-target");
    if (targets.length) body.devices = [...new Set([...targets, ...body.canaries])];
    else if (body.canaries.length) body.devices = [...document.querySelectorAll("#devices .rollout-target")].map((b) => b.value);
    act((r) => "rollout " + r.id + " of " + r.kind + " " + r.version + " started (" + r.state + ")",
      () => postJson("/api/rollouts", body));
  }

  function buildGallery() {
    say("building a gallery of the library (this takes a while on a big one)…");
    act((a) => "gallery " + a.version + " built (" + a.people + " people)", () => postJson("/api/galleries"));
  }

  async function load() {
    await loadArtifacts();
    await Promise.all([loadDevices(), loadRollouts()]);
  }

  $("#rollout-form").addEventListener("submit", startRollout);
  $("#rollout-kind").addEventListener("change", versionChoices);
  $("#build-gallery").addEventListener("click", buildGallery);
  onView("devices", load);
})();
