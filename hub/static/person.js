"use strict";
// One person's page (#/people/<id>): their coverage, their samples, and where and when agents saw them: a
// timeline (inline SVG, one lane per camera, one mark per sighting) and the sightings with their best crops.
// `$`, `api`, `apiImage`, `ago`, `onView`, `loadSamples` and `coverageCell` are the page's own (app.js).
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 800, LANE = 28, LEFT = 130, TOP = 8, AXIS = 22; // px in the SVG's own units (it scales to fit)

  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // [t0, t1] in ms spanning every sighting, widened to at least a minute so one sighting is not a line.
  function span(tracks) {
    const times = tracks.flatMap((t) => [Date.parse(t.started_at), Date.parse(t.ended_at)]);
    let t0 = Math.min(...times), t1 = Math.max(...times);
    if (t1 - t0 < 60000) { const mid = (t0 + t1) / 2; t0 = mid - 30000; t1 = mid + 30000; }
    return [t0, t1];
  }

  // The timeline: x is time, each camera (device/camera) a lane, each sighting a bar from its start to its
  // end (at least 4 px wide), titled with when and how sure; clicking one scrolls to its crop.
  function timeline(tracks) {
    const lanes = [...new Set(tracks.map((t) => t.device_id + "/" + t.camera))].sort();
    const [t0, t1] = span(tracks);
    const x = (ms) => LEFT + (W - LEFT - 10) * (ms - t0) / (t1 - t0);
    const height = TOP + lanes.length * LANE + AXIS;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + height, role: "img", class: "timeline-plot",
      "aria-label": tracks.length + " sightings on " + lanes.length + " camera(s)" });
    lanes.forEach((lane, i) => {
      const y = TOP + i * LANE;
      root.append(svg("line", { x1: LEFT, x2: W - 10, y1: y + LANE / 2, y2: y + LANE / 2, class: "lane" }),
        svg("text", { x: LEFT - 6, y: y + LANE / 2 + 4, "text-anchor": "end", class: "lane-name" }, lane));
    });
    for (const t of tracks) {
      const y = TOP + lanes.indexOf(t.device_id + "/" + t.camera) * LANE + 6;
      const x0 = x(Date.parse(t.started_at)), w = Math.max(4, x(Date.parse(t.ended_at)) - x0);
      const mark = svg("rect", { x: x0, y, width: w, height: LANE - 12, rx: 2, class: "sighting",
        "data-event-id": t.event_id, tabindex: 0, role: "button" });
      mark.append(svg("title", {}, new Date(t.started_at).toLocaleString() + ", " + t.device_id + "/" + t.camera +
        ", confidence " + t.confidence.toFixed(2)));
      const reveal = () => {
        document.querySelectorAll("#person-sightings .flash").forEach((el) => el.classList.remove("flash"));
        const card = document.querySelector('#person-sightings [data-event-id="' + t.event_id + '"]');
        if (card) { card.scrollIntoView({ block: "nearest" }); card.classList.add("flash"); }
      };
      mark.addEventListener("click", reveal);
      mark.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); reveal(); } });
      root.append(mark);
    }
    const axisY = TOP + lanes.length * LANE + 15;
    for (const [ms, anchor] of [[t0, "start"], [(t0 + t1) / 2, "middle"], [t1, "end"]]) {
      root.append(svg("text", { x: x(ms), y: axisY, "text-anchor": anchor, class: "axis" },
        new Date(ms).toLocaleString()));
    }
    return root;
  }

  function sightingCard(t) {
    const card = document.createElement("div");
    card.className = "sighting-card"; card.dataset.eventId = t.event_id;
    const img = document.createElement("img"); img.alt = "sighting at " + t.camera;
    const info = document.createElement("div");
    info.textContent = t.device_id + "/" + t.camera + ", " + ago(t.ended_at) + ", " + t.confidence.toFixed(2);
    info.title = t.started_at + " to " + t.ended_at;
    card.append(img, info);
    apiImage(img, t.crop_url);
    return card;
  }

  async function loadPerson(personId) {
    const [person, tracks] = await Promise.all([
      api("/api/people/" + encodeURIComponent(personId)).then((r) => r.json()),
      api("/api/tracks?limit=500&person_id=" + encodeURIComponent(personId)).then((r) => r.json())]);
    $("#person-name").textContent = person.name;
    const c = person.coverage;
    $("#person-coverage").textContent = person.samples + " sample(s), " + c.views + " view(s) kept for matching, " +
      "spread " + c.spread.toFixed(2) + ": " + c.advice;
    $("#person-coverage").className = "coverage-" + c.level;
    await loadSamples($("#person-samples"), personId);
    const plot = $("#person-timeline"), shown = $("#person-sightings");
    const key = tracks.map((t) => t.event_id).join();
    if (plot.dataset.key === personId + ":" + key) return; // unchanged: keep the plot and the crops
    plot.dataset.key = personId + ":" + key;
    plot.replaceChildren(tracks.length ? timeline(tracks) : document.createTextNode("No sightings kept."));
    if (tracks.length) {
      const caption = document.createElement("figcaption");
      caption.textContent = tracks.length + " sighting(s) kept (tracks are kept for the retention period)";
      plot.append(caption);
    }
    shown.replaceChildren(...tracks.slice(0, 48).map(sightingCard));
  }

  onView("person", loadPerson);
})();
