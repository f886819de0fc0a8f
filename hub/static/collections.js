"use strict";
// "Collect at a device": ask a device's camera for the centre face under a label, then review what it
// uploaded (crops shown at once) and confirm or reject. No inline code (the page's CSP); `$`, `say`, `api`
// and `onView` are the page's own (app.js, loaded first), which polls it while the People view is on screen.
(() => {
  const thumbs = new Map(); // crop URL -> object URL, released when its collection leaves the list

  function button(text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = cls; b.addEventListener("click", onClick);
    return b;
  }

  function crop(url) {
    const img = document.createElement("img");
    img.className = "crop"; img.alt = "collected face";
    if (thumbs.has(url)) { img.src = thumbs.get(url); return img; }
    api(url).then((r) => r.blob()).then((blob) => {
      thumbs.set(url, URL.createObjectURL(blob)); img.src = thumbs.get(url);
    }).catch(() => img.removeAttribute("src"));
    return img;
  }

  async function decide(c, confirm) {
    try {
      const path = "/api/collections/" + c.id + (confirm ? "/confirm" : "");
      const answer = await (await api(path, { method: confirm ? "POST" : "DELETE" })).json();
      say(confirm ? answer.faces_extracted + " sample(s) of " + c.label + " enrolled" : "collection rejected");
      if (confirm) refresh(); // the page's people and samples
    } catch (e) { say(e.message, false); }
    await load();
  }

  function card(c) {
    const box = document.createElement("div");
    box.className = "collection"; box.dataset.collectionId = c.id; box.dataset.state = c.state;
    const info = document.createElement("div");
    info.className = "collection-info";
    info.textContent = c.label + " at " + c.device_id + " / " + c.camera + ": " + c.state +
      (c.state === "pending" ? " (" + c.crops + " crops)" : "") + (c.detail ? " - " + c.detail : "");
    box.append(info, ...c.crop_urls.map(crop));
    if (c.state === "pending") {
      box.append(button("Confirm", "confirm-collection", () => decide(c, true)),
        button("Reject", "reject-collection", () => decide(c, false)));
    } else if (c.state === "requested") {
      box.append(button("Call off", "reject-collection", () => decide(c, false)));
    }
    return box;
  }

  async function load() {
    const grid = $("#collections");
    try {
      const open = (await (await api("/api/collections")).json())
        .filter((c) => c.state === "requested" || c.state === "pending" || c.state === "confirming");
      const keep = new Set(open.flatMap((c) => c.crop_urls));
      thumbs.forEach((url, key) => { if (!keep.has(key)) { URL.revokeObjectURL(url); thumbs.delete(key); } });
      grid.replaceChildren(...open.map(card));
    } catch (e) {
      grid.textContent = "(" + e.message + ")";
    }
  }

  $("#collect-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const device = $("#collect-device").value;
    const body = { camera: $("#collect-camera").value, label: $("#collect-label").value,
      seconds: Number($("#collect-seconds").value) };
    try {
      await api("/api/devices/" + encodeURIComponent(device) + "/collect", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      say(device + " collects " + body.label + " for " + body.seconds + " s");
    } catch (e) { say(e.message, false); }
    await load();
  });

  onView("people", load);
})();
