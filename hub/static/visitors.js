"use strict";
// The "Who is this?" queue (visitors, most frequent first), suggested samples and named tracks with
// "Not this person". No inline code, so it runs under a `default-src 'self'` CSP; the page (app.js) polls
// it while the Visitors view is on screen. Cards are kept by id and updated in place, so a name being typed
// survives a refresh. Repeats (the same person at the same camera) are grouped into one card with a count.
(() => {
  // `$`, `say`, `api`, `ago`, `onView` and `refresh` are the page's own (app.js, loaded first).
  const crops = new Map(); // crop URL -> object URL

  const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}) });

  function showCrop(img, url) {
    if (!url) { img.removeAttribute("src"); return; }
    if (crops.has(url)) { img.src = crops.get(url); return; }
    api(url).then((r) => r.blob()).then((blob) => {
      crops.set(url, URL.createObjectURL(blob)); img.src = crops.get(url);
    }).catch(() => img.removeAttribute("src"));
  }

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = cls; b.addEventListener("click", onClick);
    return b;
  }

  // Keep one card per key in `container`, in the order of `items`.
  function sync(container, items, key, create, update) {
    const old = new Map([...container.children].map((el) => [el.dataset.key, el]));
    items.forEach((item, i) => {
      let card = old.get(key(item));
      if (!card) { card = create(item); card.dataset.key = key(item); }
      update(card, item);
      if (container.children[i] !== card) container.insertBefore(card, container.children[i] || null);
      old.delete(key(item));
    });
    old.forEach((el) => el.remove());
  }

  async function act(what, call) {
    try { say(what(await call())); } catch (e) { say(e.message, false); }
    refresh(); // the view on screen (app.js)
  }

  function visitorCard(v) {
    const card = document.createElement("div");
    card.className = "visitor"; card.dataset.visitorId = v.id;
    const img = document.createElement("img"); img.alt = "visitor " + v.id;
    const info = document.createElement("div"); info.className = "visitor-info";
    const pick = document.createElement("input"); pick.type = "checkbox"; pick.className = "select-visitor";
    pick.value = v.id;
    const name = document.createElement("input"); name.className = "visitor-name"; name.placeholder = "Name";
    name.maxLength = 100;
    card.append(img, pick, info, name,
      button("Name", "name-visitor", () => nameVisitor(card.dataset.visitorId, name.value)),
      button("Ignore", "ignore-visitor", () => toggleIgnore(card)),
      button("Delete", "delete-visitor", () => deleteVisitor(card.dataset.visitorId)));
    return card;
  }

  function updateVisitor(card, v) {
    card.classList.toggle("ignored", v.ignored);
    card.dataset.ignored = v.ignored ? "1" : "0";
    card.querySelector(".ignore-visitor").textContent = v.ignored ? "Stop ignoring" : "Ignore";
    card.querySelector(".visitor-info").textContent = v.tracks + " visit(s), " + v.cameras.join(", ") + "; last " +
      new Date(v.last_seen).toLocaleString() + (v.ignored ? " (ignored)" : "");
    showCrop(card.querySelector("img"), v.crop_url);
  }

  async function loadVisitors() {
    const list = await (await api("/api/visitors?limit=200")).json();
    $("#visitors-info").textContent = "(" + list.total_visitors + " visitors, " + list.stored_tracks + " tracks kept)";
    $("#retention").textContent = "Unknown faces (crops and templates of unknown and named tracks) are kept for " +
      list.retention_days + " days after they arrive, ignored visitors until you stop ignoring or delete them; " +
      "enrolled samples are never deleted by the clock." + (list.last_purge ? " Last purge " +
      new Date(list.last_purge).toLocaleString() + "." : "");
    sync($("#visitors"), list.visitors, (v) => v.id, visitorCard, updateVisitor);
  }

  // Suggestions of one person from one camera (the same face, a replayed clip) as one card: the most
  // confident first, with how many there are; "Reject all" rejects the group.
  function groupBy(items, key) {
    const groups = new Map();
    for (const item of items) {
      if (!groups.has(key(item))) groups.set(key(item), []);
      groups.get(key(item)).push(item);
    }
    return [...groups.values()];
  }

  function countBadge(card, n) {
    card.querySelector(".group-count").textContent = n > 1 ? "×" + n : "";
    card.dataset.count = String(n);
  }

  function suggestionCard(group) {
    const s = group[0];
    const card = document.createElement("div");
    card.className = "suggestion"; card.dataset.eventId = s.event_id;
    const img = document.createElement("img"); img.alt = "suggested sample of " + s.person_name;
    const badge = document.createElement("span"); badge.className = "group-count";
    const info = document.createElement("div");
    info.textContent = s.person_name + ": " + s.confidence.toFixed(2) + " (lead " + s.margin.toFixed(2) + "), " +
      s.device_id + "/" + s.camera;
    card.append(img, badge, info,
      button("Accept", "accept-suggestion", () => act((r) => "added " + r.faces_extracted + " sample(s) to " +
        r.person.name, async () => (await post("/api/suggestions/" + s.event_id + "/accept")).json())),
      button("Reject all", "reject-suggestion", () => act(() => "suggestion(s) rejected",
        () => Promise.all(card.rejectIds.map((id) => post("/api/suggestions/" + id + "/reject"))))));
    showCrop(img, s.crop_url);
    return card;
  }

  async function loadSuggestions() {
    const list = await (await api("/api/suggestions?limit=300")).json();
    const groups = groupBy(list, (s) => s.person_id + "/" + s.device_id + "/" + s.camera);
    sync($("#suggestions"), groups, (g) => g[0].event_id, suggestionCard, (card, g) => {
      countBadge(card, g.length); card.rejectIds = g.map((s) => s.event_id);
    });
  }

  // Named tracks of one person at one camera as one card: the newest, with how many.
  function trackCard(group) {
    const t = group[0];
    const card = document.createElement("div");
    card.className = "named-track"; card.dataset.eventId = t.event_id;
    const img = document.createElement("img"); img.alt = "track named " + t.person_id;
    const badge = document.createElement("span"); badge.className = "group-count";
    const info = document.createElement("div"); info.className = "track-info";
    card.append(img, badge, info, button("Not this person", "not-this-person", () => act(
      (r) => "removed " + r.removed_samples.length + " sample(s); the track joined visitor " + r.visitor.id +
        (r.still_matches ? " (still resembles them: name the visitor)" : ""),
      async () => (await post("/api/tracks/" + t.event_id + "/not-this-person")).json())));
    showCrop(img, t.crop_url);
    return card;
  }

  async function loadNamedTracks() {
    const people = new Map((await (await api("/api/people")).json()).map((p) => [p.id, p.name]));
    const tracks = (await (await api("/api/tracks?limit=300")).json()).filter((t) => t.person_id);
    const groups = groupBy(tracks, (t) => t.person_id + "/" + t.device_id + "/" + t.camera).slice(0, 24);
    sync($("#named-tracks"), groups, (g) => g[0].event_id, trackCard, (card, g) => {
      const t = g[0];
      countBadge(card, g.length);
      card.querySelector(".track-info").textContent = (people.get(t.person_id) || t.person_id) + " " +
        t.confidence.toFixed(2) + ", " + t.device_id + "/" + t.camera + ", " + ago(t.ended_at);
    });
  }

  function nameVisitor(id, name) {
    if (!name.trim()) { say("type a name first", false); return; }
    act((r) => "enrolled " + r.faces_extracted + " face(s) as " + r.person.name,
      async () => (await post("/api/visitors/" + id + "/name", { name: name.trim() })).json());
  }

  function toggleIgnore(card) {
    const id = card.dataset.visitorId, ignored = card.dataset.ignored === "1";
    act(() => (ignored ? "no longer ignoring " : "ignoring ") + id + " from the next gallery on",
      () => api("/api/visitors/" + id + "/ignore", { method: ignored ? "DELETE" : "POST" }));
  }

  function deleteVisitor(id) {
    act((r) => "deleted visitor " + id + " (" + r.deleted + " track(s))",
      async () => (await api("/api/visitors/" + id, { method: "DELETE" })).json());
  }

  function mergeSelected() {
    const ids = [...document.querySelectorAll(".select-visitor:checked")].map((c) => c.value);
    if (ids.length !== 2) { say("select exactly two visitors to merge", false); return; }
    act((r) => "merged into " + r.id + " (" + r.tracks + " visits)",
      async () => (await post("/api/visitors/" + ids[0] + "/merge", { other_id: ids[1] })).json());
  }

  // Also offered on each sample of the page's sample grid (see app.js).
  window.facefleetSampleNotThisPerson = (sampleId) => act(
    (v) => "the sample left the library; its face joined visitor " + v.id,
    async () => (await post("/api/tracks/from-sample", { sample_id: sampleId })).json());

  async function refreshAll() {
    await Promise.all([loadVisitors(), loadSuggestions(), loadNamedTracks()].map((p) => p.catch((e) => {
      $("#visitors-info").textContent = "(" + e.message + ")";
    })));
  }

  $("#merge-visitors").addEventListener("click", mergeSelected);
  onView("visitors", refreshAll);
})();
