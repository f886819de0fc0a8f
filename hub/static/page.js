// What every page of the hub shares (loaded before its own script; a file of its own: the
// Content-Security-Policy allows no inline script): the element finder, the API token this browser keeps, and
// the status line.
"use strict";
const $ = (sel) => document.querySelector(sel);

function token() { return localStorage.getItem("facefleet-token") || ""; }

function say(text, ok = true) {
  const el = $("#status");
  el.textContent = text;
  el.className = ok ? "ok" : "error";
}
