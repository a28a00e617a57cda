// The identify page: photos and an optional place and date go to POST v1/identify; the answer
// comes back as the decision in plain words and the suggestions, each with its lineage, its
// probability, the prior's part and reference photos from the service's index.
import { decisionText, el, fetchJSON, lineageElement, pct, referenceList } from "./common.js";
import { WorldMap } from "./worldmap.js";

const $ = (id) => document.getElementById(id);
const form = $("form"), input = $("images"), drop = $("drop");
const lat = $("latitude"), lon = $("longitude");

// --- what the service has loaded -------------------------------------------------------
let ready = { prior: false, index: false };
fetchJSON("ready").then((r) => {
  ready = r;
  $("service").textContent = "Model " + r.model.name + " " + r.model.version + " (" +
    r.model.classes + " taxa)" + (r.prior ? "; place-and-season prior loaded" : "") +
    (r.index ? "; reference photos from the index" : "; no index, so no reference photos");
}).catch((e) => { $("service").textContent = "The service is not ready: " + e.message; });

// --- chosen photos, shown as thumbnails ------------------------------------------------
let objectUrls = [];
function showChosen() {
  objectUrls.forEach((u) => URL.revokeObjectURL(u));
  objectUrls = [...input.files].map((f) => URL.createObjectURL(f));
  $("chosen").replaceChildren(...[...input.files].map((f, i) => el("li", {},
    el("img", { src: objectUrls[i], alt: "Chosen photo " + f.name, width: 96, height: 96 }),
    el("span", {}, f.name))));
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

// --- the place: map and typed coordinates move one point ------------------------------
function describe(la, lo) {
  return Math.abs(la).toFixed(2) + "° " + (la < 0 ? "S" : "N") + ", " +
    Math.abs(lo).toFixed(2) + "° " + (lo < 0 ? "W" : "E");
}
const map = new WorldMap($("map"), (la, lo) => {
  lat.value = la.toFixed(4);
  lon.value = lo.toFixed(4);
  $("point").textContent = "Place: " + describe(la, lo);
});
map.load("v1/map/land").catch((e) => {
  $("map-missing").textContent = "The world map is not available (" + e.message +
    "): type the latitude and longitude instead, or click the grid.";
  $("map-missing").hidden = false;
});
function typed() {
  const la = parseFloat(lat.value), lo = parseFloat(lon.value);
  if (Number.isFinite(la) && Number.isFinite(lo) && Math.abs(la) <= 90 && Math.abs(lo) <= 180) {
    map.setPoint(la, lo);
    $("point").textContent = "Place: " + describe(la, lo);
  } else {
    map.setPoint(null);
    $("point").textContent = "No place chosen: click the map or type the coordinates.";
  }
}
lat.addEventListener("input", typed);
lon.addEventListener("input", typed);
$("zoom-in").addEventListener("click", () => map.zoomBy(2));
$("zoom-out").addEventListener("click", () => map.zoomBy(0.5));
$("zoom-reset").addEventListener("click", () => map.reset());
$("clear-point").addEventListener("click", () => { lat.value = ""; lon.value = ""; typed(); });

// --- identify ---------------------------------------------------------------------------
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").hidden = true;
  const data = new FormData();
  for (const f of input.files) data.append("images", f);
  for (const name of ["latitude", "longitude", "date"]) {
    if ($(name).value) data.append(name, $(name).value);
  }
  $("identify").disabled = true;
  $("busy").textContent = "Identifying…";
  try {
    show(await fetchJSON("v1/identify", { method: "POST", body: data }));
    $("busy").textContent = "";
  } catch (err) {
    $("busy").textContent = "";
    $("error").textContent = err.message;
    $("error").hidden = false;
  } finally {
    $("identify").disabled = false;
  }
});

// One suggestion: the name (and its rank only where the class has one), the calibrated
// probability, the lineage, the prior's part, and reference photos.
function suggestion(r) {
  const head = el("div", { className: "head" }, el("span", { className: "name" }, r.taxon));
  if (r.rank) head.append(" ", el("span", { className: "rank" }, r.rank));
  head.append(el("span", { className: "prob" }, pct(r.score)));
  const li = el("li", { className: "suggestion" }, head,
    el("div", { className: "bar", role: "presentation" },
       el("span", { style: "width:" + (100 * r.score).toFixed(1) + "%" })),
    lineageElement(r.lineage));
  if (r.prior_score !== null && r.prior_score !== undefined) {
    li.append(el("p", { className: "parts" },
      "From the photos alone " + pct(r.vision_score) + "; place-and-season score " +
      Number(r.prior_score).toFixed(2),
      r.expected_nearby ? el("span", { className: "badge" }, "Seen nearby")
        : el("span", { className: "note" }, " (not recorded nearby)")));
  }
  if (r.references && r.references.length) li.append(referenceList(r.taxon, r.references));
  else if (ready.index) li.append(el("p", { className: "note" }, "No indexed photo of this taxon."));
  return li;
}

function show(body) {
  $("decision").textContent = decisionText(body);
  $("decision").className = "decision " + (body.rejected ? "rejected"
    : body.decision.auto_validated ? "validated" : "review");
  $("suggestions-note").textContent = body.rejected
    ? "The closest taxa the model knows, for comparison only:" : "";
  $("suggestions").replaceChildren(...body.results.map(suggestion));
  $("photos").replaceChildren(...body.images.map((p) => el("li", {},
    p.filename + ": " + (p.error ? p.error : p.taxon + " " + pct(p.score)))));
  $("similar").replaceChildren(body.similar.length
    ? referenceList("this observation", body.similar.map((s) => ({ photo_id: s.photo_id, label: s.label })))
    : el("p", { className: "note" }, "None (the service has no index)."));
  $("answer").hidden = false;
}
