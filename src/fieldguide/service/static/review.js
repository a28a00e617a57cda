// The review page: sign in with a reviewer token, pick a queue (a taxon's observations that
// reverse search ranks highest, those a curation rule flagged for review, or those the model
// did not auto-validate) and judge its observations. Verdicts are saved by the server
// (POST /v1/reviews) and every queue leaves out what this reviewer has judged, so a session
// resumes wherever it was left; the token, the queue, the taxon and the skipped observations
// are kept in localStorage.
import { fetchJSON, pct, photoUrl } from "./common.js";

const $ = (id) => document.getElementById(id);
const KEY = "fieldguide.review.";
const state = { token: "", kind: "taxon", taxon: "", queue: [], pos: 0, saved: 0,
                busy: false, blobs: [] };
const QUEUE_NAMES = { flagged: "flagged for review", unvalidated: "not auto-validated" };

function remember(name, value) { localStorage.setItem(KEY + name, value); }
function recall(name) { return localStorage.getItem(KEY + name) || ""; }
function skipped() {
  try { return JSON.parse(recall("skipped") || "{}"); } catch { return {}; }
}
function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}
// This service's routes with the reviewer's token.
function call(path, options = {}) {
  const headers = { Authorization: "Bearer " + state.token, ...(options.headers || {}) };
  return fetchJSON(path, { ...options, headers });
}

async function signIn(token) {
  state.token = token;
  try {
    const me = await call("/v1/reviews/me");
    remember("token", token);
    $("who").textContent = "Reviewing as " + me.reviewer + ".";
    await offerQueues();
    $("pick").hidden = false;
    showError("");
    return true;
  } catch (e) {
    $("who").textContent = "";
    showError(e.message.includes("token") ? "This token is not a reviewer's." : e.message);
    return false;
  }
}

// The queues this service offers: the choice shows only when there is more than one.
async function offerQueues() {
  const on = await call("/v1/reviews/queues");
  const offered = { taxon: on.taxon, flagged: on.flagged > 0, unvalidated: on.unvalidated > 0 };
  for (const kind of Object.keys(offered)) $("kind-" + kind + "-label").hidden = !offered[kind];
  $("flagged-count").textContent = "(" + on.flagged + " observations)";
  $("unvalidated-count").textContent = "(" + on.unvalidated + " observations)";
  $("kinds").hidden = Object.values(offered).filter(Boolean).length < 2;
  const kinds = Object.keys(offered).filter((k) => offered[k]);
  const kind = kinds.includes(recall("kind")) ? recall("kind") : (kinds[0] || "taxon");
  chooseKind(kind);
}
function chooseKind(kind) {
  state.kind = kind;
  document.querySelector("input[name=kind][value=" + kind + "]").checked = true;
  $("by-taxon").hidden = kind !== "taxon";
  $("taxon").disabled = $("min-score").disabled = kind !== "taxon";
}
function queueName() { return QUEUE_NAMES[state.kind] || state.taxon; }

// Autocomplete from the study's taxonomy (a datalist the browser filters and shows).
function autocomplete(input, list, onlyModel) {
  let timer = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) return;
    timer = setTimeout(async () => {
      try {
        const found = await call("/v1/reviews/taxa?q=" + encodeURIComponent(q));
        list.replaceChildren(...found.filter((t) => !onlyModel || t.in_model).map((t) => {
          const option = document.createElement("option");
          option.value = t.taxon;
          if (t.rank) option.label = t.taxon + " (" + t.rank + ")";
          return option;
        }));
      } catch (e) { /* the datalist stays as it was */ }
    }, 150);
  });
}

function skipKey() { return state.kind === "taxon" ? state.taxon : "queue:" + state.kind; }

async function loadQueue() {
  const skip = new Set(skipped()[skipKey()] || []);
  const path = state.kind === "taxon"
    ? "/v1/reviews/queue?taxon=" + encodeURIComponent(state.taxon) + "&limit=50&min_score="
      + encodeURIComponent($("min-score").value || "0.5")
    : "/v1/reviews/" + state.kind + "?limit=50";
  try {
    const rows = await call(path);
    state.queue = rows.filter((r) => !skip.has(r.observation_id));
    state.pos = 0;
    showError("");
    show();
  } catch (e) {
    showError(e.message);
  }
}

function entry(list, term, value) {
  const dt = document.createElement("dt"), dd = document.createElement("dd");
  dt.textContent = term; dd.textContent = value;
  list.append(dt, dd);
}
function labelText(row) {
  if (row.relation === "none" || !row.label) return "no label yet";
  if (row.relation === "coarser") return row.label + " (coarser than " + state.taxon + ")";
  return row.label;
}

// The taxon "Agree" confirms: the queue's taxon, the label the dataset gives a flagged
// observation, or the model's decision (none when the model named no taxon).
function proposal(row) {
  if (state.kind === "taxon") return state.taxon;
  return (state.kind === "flagged" ? row.label : row.taxon) || "";
}

// A photo of a file-read queue: served only to reviewers, so fetched with the token.
async function authorisedImage(img, photoId) {
  try {
    const r = await fetch("v1/reviews/photos/" + encodeURIComponent(photoId) + "?size=640",
                          { headers: { Authorization: "Bearer " + state.token } });
    if (!r.ok) throw new Error(String(r.status));
    const src = URL.createObjectURL(await r.blob());
    state.blobs.push(src);
    img.src = src;
  } catch (e) {
    img.alt += " (not available)";
  }
}

function showEvidence(row) {
  const ev = $("evidence");
  ev.replaceChildren();
  if (state.kind === "flagged") {
    entry(ev, "Current label", row.label);
    if (row.suggested) entry(ev, "Suggested label", row.suggested);
    for (const reason of row.reasons) entry(ev, "Flagged for", reason);
    return;
  }
  if (state.kind === "unvalidated") {
    entry(ev, "Model's identification", row.taxon
      ? row.taxon + (row.rank ? " (" + row.rank + ")" : "") : "none");
    entry(ev, "Status", row.status);
    if (row.remarks) entry(ev, "Evidence", row.remarks);
    return;
  }
  entry(ev, "Model's probability of " + state.taxon, pct(row.score));
  entry(ev, "Current label", labelText(row));
  if (row.alternative) entry(ev, "Next most likely", row.alternative + " ("
    + pct(row.alternative_score) + ")");
  if (row.neighbour_similarity !== null && row.neighbour_similarity !== undefined) {
    entry(ev, "Similarity to labelled " + state.taxon, row.neighbour_similarity.toFixed(3));
  }
}

function show() {
  const row = state.queue[state.pos];
  $("other-form").hidden = true;
  state.blobs.splice(0).forEach((src) => URL.revokeObjectURL(src));
  if (!row) {
    $("card").hidden = true;
    $("done").hidden = false;
    $("done").textContent = "Nothing left to review in " + queueName() + " ("
      + state.saved + " verdict(s) saved on this visit).";
    return;
  }
  $("done").hidden = true;
  $("card").hidden = false;
  $("card").dataset.observation = row.observation_id;
  $("card-title").textContent = "Observation " + row.observation_id;
  $("card-title").focus();  // the shortcuts work at once, and a screen reader reads the title
  $("progress").textContent = (state.pos + 1) + " of " + state.queue.length + " in this list; "
    + state.saved + " verdict(s) saved on this visit.";
  $("photos").replaceChildren(...row.photo_ids.map((id, i) => {
    const img = document.createElement("img");
    img.alt = "Photo " + (i + 1) + " of observation " + row.observation_id;
    if (state.kind === "taxon") img.src = photoUrl(id, 640); else authorisedImage(img, id);
    return img;
  }));
  if (!row.photo_ids.length) $("photos").textContent = "No photo file for this observation.";
  showEvidence(row);
  const agree = proposal(row);
  $("agree").disabled = !agree;
  $("agree-taxon").textContent = agree ? ": " + agree : "";
  $("suggested").hidden = !(state.kind === "flagged" && row.suggested);
  $("suggested-taxon").textContent = row.suggested || "";
  $("near").hidden = state.kind !== "taxon";
  if (state.kind !== "taxon") return;
  $("neighbours").replaceChildren(...row.neighbours.map((n) => {
    const li = document.createElement("li"), img = document.createElement("img");
    img.src = photoUrl(n.photo_id);
    img.alt = "Labelled " + (n.label || "photo") + ", similarity " + n.similarity.toFixed(3);
    li.append(img, document.createTextNode((n.label || "?") + " · " + n.similarity.toFixed(3)));
    return li;
  }));
  if (!row.neighbours.length) {
    const li = document.createElement("li");
    li.textContent = "No photo is labelled as " + state.taxon + " yet.";
    $("neighbours").append(li);
  }
}

async function next() {
  state.pos += 1;
  if (state.pos >= state.queue.length) await loadQueue();  // the server drops judged ones
  else show();
}

async function verdict(body) {
  const row = state.queue[state.pos];
  if (!row || state.busy) return;
  state.busy = true;
  try {
    await call("/v1/reviews", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ observation_id: row.observation_id, ...body }),
    });
    state.saved += 1;
    showError("");
    await next();
  } catch (e) {
    showError(e.message);
  } finally {
    state.busy = false;
  }
}

function agree() {
  const row = state.queue[state.pos];
  if (row && proposal(row)) verdict({ taxon: proposal(row) });
}
function acceptSuggestion() {
  const row = state.queue[state.pos];
  if (row && state.kind === "flagged" && row.suggested) verdict({ taxon: row.suggested });
}

function skip() {
  const row = state.queue[state.pos];
  if (!row || state.busy) return;
  const all = skipped();
  all[skipKey()] = [...(all[skipKey()] || []), row.observation_id];
  remember("skipped", JSON.stringify(all));
  next();
}

function askOther() {
  if (!state.queue[state.pos]) return;
  $("other-form").hidden = false;
  $("other-taxon").value = "";
  $("other-taxon").focus();
}

$("signin").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value); });
for (const radio of document.querySelectorAll("input[name=kind]")) {
  radio.addEventListener("change", () => chooseKind(radio.value));
}
$("pick").addEventListener("submit", (e) => {
  e.preventDefault();
  remember("kind", state.kind);
  if (state.kind === "taxon") {
    state.taxon = $("taxon").value.trim();
    remember("taxon", state.taxon);
    remember("min-score", $("min-score").value);
  }
  state.saved = 0;
  loadQueue();
});
$("agree").addEventListener("click", agree);
$("suggested").addEventListener("click", acceptSuggestion);
$("other").addEventListener("click", askOther);
$("unsure").addEventListener("click", () => verdict({ verdict: "unsure" }));
$("skip").addEventListener("click", skip);
$("other-form").addEventListener("submit", (e) => {
  e.preventDefault();
  verdict({ taxon: $("other-taxon").value.trim() });
});
$("other-cancel").addEventListener("click", () => { $("other-form").hidden = true; });
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { $("other-form").hidden = true; return; }
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName);
  if (typing || $("card").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const act = { a: agree, g: acceptSuggestion, t: askOther,
                u: () => verdict({ verdict: "unsure" }), s: skip }[e.key.toLowerCase()];
  if (act) { e.preventDefault(); act(); }
});
autocomplete($("taxon"), $("taxon-list"), true);
autocomplete($("other-taxon"), $("other-list"), false);

(async () => {  // resume: the last token, queue, taxon and lowest score
  const token = recall("token");
  if (!token) return;
  $("token").value = token;
  if (!(await signIn(token))) return;
  $("min-score").value = recall("min-score") || "0.5";
  state.taxon = recall("taxon");
  if (state.kind !== "taxon" && recall("kind") === state.kind) loadQueue();
  else if (state.kind === "taxon" && state.taxon) { $("taxon").value = state.taxon; loadQueue(); }
})();
