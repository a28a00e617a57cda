"use strict";
// The page posts the form to /v1/identify and shows the answer; nothing leaves the app.
const $ = (id) => document.getElementById(id);
const form = $("form"), input = $("images"), drop = $("drop"), picker = $("picker");

function pct(x) { return (100 * x).toFixed(1) + "%"; }
function item(list, text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  list.appendChild(li);
  return li;
}
function showChosen() {
  const list = $("chosen");
  list.replaceChildren();
  for (const f of input.files) item(list, f.name);
}
input.addEventListener("change", showChosen);
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  input.files = e.dataTransfer.files;
  showChosen();
});

function setPoint(fx, fy) {
  $("latitude").value = (90 - fy * 180).toFixed(4);
  $("longitude").value = (fx * 360 - 180).toFixed(4);
  let dot = picker.querySelector(".dot");
  if (!dot) { dot = document.createElement("span"); dot.className = "dot"; picker.appendChild(dot); }
  dot.style.left = pct(fx); dot.style.top = pct(fy);
}
picker.addEventListener("click", (e) => {
  const r = picker.getBoundingClientRect();
  setPoint((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
});
picker.addEventListener("keydown", (e) => {
  const lat = parseFloat($("latitude").value) || 0, lon = parseFloat($("longitude").value) || 0;
  const moves = { ArrowUp: [0, 1], ArrowDown: [0, -1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
  if (!(e.key in moves)) return;
  e.preventDefault();
  const [dx, dy] = moves[e.key];
  setPoint((Math.min(180, Math.max(-180, lon + dx)) + 180) / 360,
           (90 - Math.min(90, Math.max(-90, lat + dy))) / 180);
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").hidden = true;
  const data = new FormData();
  for (const f of input.files) data.append("images", f);
  for (const name of ["latitude", "longitude", "date"]) {
    if ($(name).value) data.append(name, $(name).value);
  }
  const r = await fetch("v1/identify", { method: "POST", body: data });
  const body = await r.json();
  if (!r.ok) {
    $("error").textContent = body.detail || ("error " + r.status);
    $("error").hidden = false;
    return;
  }
  show(body);
});

// "taxon (rank, 93.1%)"; the rank only where the decision core gives one
function named(x) {
  return x.taxon + " (" + (x.rank ? x.rank + ", " : "") + pct(x.probability) + ")";
}

function show(body) {
  const d = body.decision, a = body.common_ancestor;
  $("decision").textContent = (d.taxon ? named(d) : "undecided") +
    (d.auto_validated ? ": auto-validated" : ": needs review") +
    (a.taxon && a.taxon !== d.taxon ? "; surest taxon at any rank: " + named(a) : "");
  $("rejection").hidden = !body.rejected;
  $("rejection").textContent = body.rejected ? "Rejected: " + body.reject_reason : "";
  const sugg = $("suggestions");
  sugg.replaceChildren();
  for (const r of body.results) {
    const li = item(sugg, r.taxon + " " + pct(r.score));
    li.className = "suggestion";
    const lin = document.createElement("div");
    lin.className = "lineage";
    lin.textContent = Object.entries(r.lineage).map(([k, v]) => k + ": " + v).join(" · ");
    li.appendChild(lin);
  }
  $("photos").replaceChildren();
  for (const p of body.images) {
    item($("photos"), p.filename + ": " + (p.error || p.taxon + " " + pct(p.score)));
  }
  $("similar").replaceChildren();
  for (const s of body.similar) item($("similar"), (s.label || "") + " " + (s.path || s.photo_id || ""));
  if (!body.similar.length) item($("similar"), "none (no index loaded)");
  $("answer").hidden = false;
}
