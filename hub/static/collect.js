// The collection page: record a few seconds of one person from this device's camera and enroll them through
// the hub's video enrollment (a file of its own: the Content-Security-Policy allows no inline script).
//
// Frames are drawn from the <video> to a canvas and encoded as JPEGs; the JPEGs one after another are a
// Motion-JPEG stream, which the hub reads frame by frame (each frame's size checked before decoding) and
// which every browser can make without a video encoder. The upload carries an Idempotency-Key: when the
// connection drops, the page sends the same recording again under the same key, and the hub stores it once.
"use strict";
const MAX_WIDTH_PX = 960;  // frames are scaled to this width before encoding: detection time and upload size
                          // grow with the pixels, and a face at arm's length still spans well over 100 px
const JPEG_QUALITY = 0.85;
const BOX_SHARE = 0.55;  // the centre box's height as a share of the frame's
const RETRIES = 6;  // tries of one upload before giving up (waits 1, 2, 4, 8, 16 s between them)
const state = { stream: null, thumbs: [] };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function newKey() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function facing() { return document.querySelector('input[name="facing"]:checked').value; }

// The box the person should stand in, drawn over the preview (same aspect as the frames sent).
function drawBox() {
  const video = $("#camera"), canvas = $("#centre-box");
  canvas.width = video.clientWidth; canvas.height = video.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!video.videoWidth) return;
  const h = canvas.height * BOX_SHARE, w = h * 0.8;
  ctx.strokeStyle = "#4caf50"; ctx.lineWidth = 3;
  ctx.strokeRect((canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
}

async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("this browser offers no camera here: open the page over https (see the hub README)", false);
    return;
  }
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { facingMode: { ideal: facing() }, width: { ideal: 1280 }, height: { ideal: 720 } } });
  } catch (e) {
    say("camera: " + e.name + " " + e.message, false);
    return;
  }
  const video = $("#camera");
  video.classList.toggle("mirrored", facing() === "user");
  video.srcObject = state.stream;
  await video.play();
  drawBox();
  $("#collect-record").disabled = false;
  say("camera open: " + video.videoWidth + "x" + video.videoHeight);
}

// `seconds` of the camera at `fps` as one Motion-JPEG blob and its frame count.
async function record(seconds, fps) {
  const video = $("#camera");
  const scale = Math.min(1, MAX_WIDTH_PX / video.videoWidth);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(video.videoWidth * scale); canvas.height = Math.round(video.videoHeight * scale);
  const ctx = canvas.getContext("2d");
  const frames = [], total = Math.round(seconds * fps);
  for (let i = 0; i < total; i++) {
    const due = performance.now() + 1000 / fps;
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    frames.push(await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY)));
    say("recording " + (i + 1) + " / " + total);
    await sleep(Math.max(0, due - performance.now()));
  }
  return { blob: new Blob(frames, { type: "video/x-motion-jpeg" }), frames: total };
}

// One try: resolves with {status, body} for any HTTP answer, rejects when the connection fails.
function sendOnce(form, key) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/samples/video");
    xhr.setRequestHeader("Authorization", "Bearer " + token());
    xhr.setRequestHeader("Idempotency-Key", key);
    xhr.timeout = 180000;
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) $("#collect-progress").value = ev.loaded / ev.total; };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.statusText }; }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => reject(new Error("connection lost"));
    xhr.ontimeout = () => reject(new Error("no answer in time"));
    xhr.send(form);
  });
}

// Send until the hub answers (a 5xx or a lost connection is tried again under the same key).
async function upload(recording, label) {
  const key = newKey();
  for (let attempt = 1; ; attempt++) {
    const form = new FormData();
    form.append("label", label);
    form.append("file", recording.blob, "camera.mjpeg");
    form.append("max_frames", String(Math.min(recording.frames, 200)));
    form.append("max_samples", $("#collect-samples").value);
    let failure;
    try {
      const answer = await sendOnce(form, key);
      if (answer.status < 500) return answer;
      failure = "hub error " + answer.status;
    } catch (e) { failure = e.message; }
    if (attempt >= RETRIES) throw new Error(failure + "; gave up after " + attempt + " tries (nothing half stored)");
    const wait_s = 2 ** (attempt - 1);
    say(failure + "; trying again in " + wait_s + " s (try " + (attempt + 1) + " of " + RETRIES + ")", false);
    await sleep(wait_s * 1000);
  }
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (detail && detail.message) return detail.message;
  return JSON.stringify(detail);
}

function showResult(result) {
  const r = result.rejected;
  $("#collect-result").textContent = "Kept " + result.faces_extracted + " sample(s) of " + result.faces_found +
    " face(s) found for " + result.person.name + " (" + result.frames_read + " frames read); rejected: blurred " +
    r.blurred + ", too small " + r.too_small + ", duplicate " + r.duplicate + ", someone else " + r.other_person +
    ", over limit " + r.over_limit + ". Coverage: " + result.person.coverage.advice;
  state.thumbs.forEach(URL.revokeObjectURL);
  state.thumbs = [];
  const grid = $("#collect-samples-kept");
  grid.replaceChildren();
  for (const s of result.samples) {
    const box = document.createElement("div");
    box.className = "sample"; box.dataset.sampleId = s.id;
    const img = document.createElement("img");
    img.alt = "sample " + s.source;
    const info = document.createElement("div");
    info.textContent = "q " + s.quality.toFixed(2) + ", " + Math.round(s.face_px) + " px";
    const del = document.createElement("button");
    del.type = "button"; del.className = "delete-sample"; del.textContent = "Delete";
    del.addEventListener("click", () => deleteSample(s.id, box));
    box.append(img, info, del);
    grid.append(box);
    fetch(s.image_url, { headers: { Authorization: "Bearer " + token() } })
      .then((response) => response.blob())
      .then((blob) => { const url = URL.createObjectURL(blob); state.thumbs.push(url); img.src = url; })
      .catch((e) => say("thumbnail: " + e.message, false));
  }
}

async function deleteSample(id, box) {
  const response = await fetch("/api/samples/" + encodeURIComponent(id),
    { method: "DELETE", headers: { Authorization: "Bearer " + token() } });
  if (response.ok) { box.remove(); say("deleted 1 sample"); } else say("delete failed: " + response.status, false);
}

async function collect(ev) {
  ev.preventDefault();
  const label = $("#collect-label").value.trim();
  const button = $("#collect-record");
  button.disabled = true;
  $("#collect-progress").value = 0;
  try {
    const recording = await record(Number($("#collect-seconds").value) || 4, Number($("#collect-fps").value) || 8);
    say("uploading " + recording.frames + " frames (" + Math.round(recording.blob.size / 1024) + " KiB)…");
    const answer = await upload(recording, label);
    if (answer.status === 200 || answer.status === 201) {
      showResult(answer.body);
      say("enrolled " + answer.body.person.name);
    } else {
      say(answer.status + ": " + detailText(answer.body.detail), false);
    }
  } catch (e) {
    say(e.message, false);
  } finally {
    button.disabled = false;
  }
}

$("#save-token").addEventListener("click", () => { localStorage.setItem("facefleet-token", $("#token").value); say("token saved"); });
$("#camera-start").addEventListener("click", openCamera);
$("#collect-form").addEventListener("submit", collect);
$("#camera").addEventListener("loadedmetadata", drawBox);
window.addEventListener("resize", drawBox);
if (token()) $("#token").value = token();
