"use strict";
// Search by photo (#/search): choose, take or drop a photo; the hub's 1:N search answers the enrolled people
// most like its central face, each with the score and a few of their samples. `$`, `api`, `apiImage`, `say`
// and `link` are the page's own (app.js).
(() => {
  const SAMPLES_SHOWN = 4;
  let preview = null; // object URL of the searched photo

  async function hitItem(hit) {
    const item = document.createElement("li");
    item.className = "search-hit"; item.dataset.personId = hit.person_id;
    const head = document.createElement("div");
    const score = document.createElement("span");
    score.className = "search-score"; score.textContent = hit.score.toFixed(3);
    head.append(link(hit.name, "#/people/" + encodeURIComponent(hit.person_id), "search-name"), " ", score);
    const thumbs = document.createElement("div");
    thumbs.className = "grid";
    const samples = await (await api("/api/samples?person_id=" + encodeURIComponent(hit.person_id))).json();
    for (const s of samples.slice(0, SAMPLES_SHOWN)) {
      const img = document.createElement("img");
      img.className = "search-sample"; img.alt = "sample of " + hit.name;
      apiImage(img, s.image_url);
      thumbs.append(img);
    }
    item.append(head, thumbs);
    return item;
  }

  async function search(file) {
    if (!file) { say("choose a photo first", false); return; }
    if (preview) URL.revokeObjectURL(preview);
    preview = URL.createObjectURL(file);
    $("#search-preview").src = preview; $("#search-preview").hidden = false;
    const form = new FormData();
    form.append("file", file);
    form.append("top_k", $("#search-top").value || "5");
    say("searching…");
    try {
      const answer = await (await api("/api/search", { method: "POST", body: form })).json();
      $("#search-results").replaceChildren(...await Promise.all(answer.hits.map(hitItem)));
      say(!answer.face_found ? "no face found in the photo" :
        answer.hits.length + " match(es)", answer.face_found);
    } catch (e) { say(e.message, false); }
  }

  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search($("#search-photo").files[0]);
  });
  $("#search-camera").addEventListener("change", (event) => search(event.target.files[0]));
  const drop = $("#search-drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault(); drop.classList.remove("over");
    search(event.dataTransfer.files[0]);
  });
})();
