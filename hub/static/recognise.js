// "Recognise me": the browser as a thin camera of the hub's /api/stream (protocol in hub/README.md).
// Frames go out as JPEG at most one ahead of the results (latency first: a slow hub gets fewer frames,
// never a backlog); faces come back with boxes and names as their tracks firm up.
"use strict";

const video = $("#video");
const overlay = $("#overlay");
const grab = document.createElement("canvas");
let socket = null;
let camera = null;
let inFlight = 0;
let timer = null;

function status(text, kind) {
  const box = $("#stream-status");
  box.textContent = text;
  box.className = kind || "";
}

function streamUrl() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/stream";
}

function sendFrame() {
  if (!socket || socket.readyState !== WebSocket.OPEN || inFlight > 1 || !video.videoWidth) return;
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  inFlight += 1;
  grab.toBlob((blob) => {
    if (blob && socket && socket.readyState === WebSocket.OPEN) socket.send(blob);
    else inFlight -= 1;
  }, "image/jpeg", 0.8);
}

function label(face) {
  return face.name ? face.name + " (" + face.confidence.toFixed(2) + ")" : "unknown";
}

function drawFaces(result) {
  overlay.width = result.width;
  overlay.height = result.height;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = 3;
  ctx.font = "18px system-ui, sans-serif";
  const list = $("#faces");
  list.replaceChildren();
  for (const face of result.faces.filter((f) => f.active)) {
    const [x1, y1, x2, y2] = face.xyxy;
    ctx.strokeStyle = face.name ? "#2e7d32" : "#f9a825";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillText(label(face), x1, Math.max(18, y1 - 6));
    const item = document.createElement("li");
    item.textContent = "track " + face.track_id + ": " + label(face);
    item.dataset.track = face.track_id;
    if (face.name) item.className = "named";
    list.appendChild(item);
  }
}

function showEvent(event) {
  const item = document.createElement("li");
  item.textContent = event.ts + " " + event.camera + " track " + event.track_id + " " + event.type + ": " +
    (event.name || event.person_id || "unknown");
  $("#events").prepend(item);
  while ($("#events").children.length > 100) $("#events").lastChild.remove();
}

function onMessage(message) {
  const reply = JSON.parse(message.data);
  if (reply.type === "ready") {
    status("streaming as " + reply.device_id + "/" + reply.camera + " (gallery " + reply.gallery_version + ")", "ok");
  } else if (reply.type === "frame") {
    inFlight = Math.max(0, inFlight - 1);
    drawFaces(reply);
    sendFrame();
  } else if (reply.type === "event") {
    showEvent(reply.event);
  }
}

async function start(submit) {
  submit.preventDefault();
  stop();
  localStorage.setItem("facefleet-stream-token", $("#stream-token").value);
  try {
    camera = await navigator.mediaDevices.getUserMedia(
      { video: { facingMode: $("#facing").value, width: { ideal: 640 }, height: { ideal: 360 } }, audio: false });
  } catch (e) {
    status("camera: " + e.message, "error");
    return;
  }
  video.srcObject = camera;
  socket = new WebSocket(streamUrl());
  socket.addEventListener("open", () => {
    const hello = { token: $("#stream-token").value, camera: $("#stream-camera").value };
    if ($("#stream-device").value) hello.device = $("#stream-device").value;
    socket.send(JSON.stringify(hello));
    timer = setInterval(sendFrame, 100);
  });
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", (e) => {
    status("stream closed (" + e.code + ")" + (e.reason ? ": " + e.reason : ""), e.code === 1000 ? "" : "error");
    stop();
  });
  $("#start").disabled = true;
  $("#stop").disabled = false;
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  inFlight = 0;
  if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  socket = null;
  if (camera) camera.getTracks().forEach((t) => t.stop());
  camera = null;
  $("#start").disabled = false;
  $("#stop").disabled = true;
}

$("#stream-form").addEventListener("submit", start);
$("#stop").addEventListener("click", () => { stop(); status("stopped"); });
$("#stream-token").value = localStorage.getItem("facefleet-stream-token") || "";
