// The review page: sign in with a reviewer token, pick a taxon, judge the observations
// reverse search ranks highest for it. Verdicts are saved by the server (POST /v1/reviews)
// and the queue leaves out what this reviewer has judged, so a session resumes wherever it
// was left; the token, the taxon and the skipped observations are kept in localStorage.
import { fetchJSON, pct, photoUrl } from "./common.js";

const $ = (id) => document.getElementById(id);
const KEY = "fieldguide.review.";
const state = { token: "", taxon: "", queue: [], pos: 0, saved: 0, busy: false };

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
    $("pick").hidden = false;
    showError("");
    return true;
  } catch (e) {
    $("who").textContent = "";
    showError(e.message.includes("token") ? "This token is not a reviewer's." : e.message);
    return false;
  }
}

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

async function loadQueue() {
  const skip = new Set(skipped()[state.taxon] || []);
  const query = "taxon=" + encodeURIComponent(state.taxon) + "&limit=50&min_score="
    + encodeURIComponent($("min-score").value || "0.5");
  try {
    const rows = await call("/v1/reviews/queue?" + query);
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

function show() {
  const row = state.queue[state.pos];
  $("other-form").hidden = true;
  if (!row) {
    $("card").hidden = true;
    $("done").hidden = false;
    $("done").textContent = "Nothing left to review for " + state.taxon + " ("
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
    img.src = photoUrl(id, 640);
    img.alt = "Photo " + (i + 1) + " of observation " + row.observation_id;
    return img;
  }));
  const ev = $("evidence");
  ev.replaceChildren();
  entry(ev, "Model's probability of " + state.taxon, pct(row.score));
  entry(ev, "Current label", labelText(row));
  if (row.alternative) entry(ev, "Next most likely", row.alternative + " ("
    + pct(row.alternative_score) + ")");
  if (row.neighbour_similarity !== null && row.neighbour_similarity !== undefined) {
    entry(ev, "Similarity to labelled " + state.taxon, row.neighbour_similarity.toFixed(3));
  }
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

function skip() {
  const row = state.queue[state.pos];
  if (!row || state.busy) return;
  const all = skipped();
  all[state.taxon] = [...(all[state.taxon] || []), row.observation_id];
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
$("pick").addEventListener("submit", (e) => {
  e.preventDefault();
  state.taxon = $("taxon").value.trim();
  remember("taxon", state.taxon);
  remember("min-score", $("min-score").value);
  state.saved = 0;
  loadQueue();
});
$("agree").addEventListener("click", () => verdict({ taxon: state.taxon }));
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
  const act = { a: () => verdict({ taxon: state.taxon }), t: askOther,
                u: () => verdict({ verdict: "unsure" }), s: skip }[e.key.toLowerCase()];
  if (act) { e.preventDefault(); act(); }
});
autocomplete($("taxon"), $("taxon-list"), true);
autocomplete($("other-taxon"), $("other-list"), false);

(async () => {  // resume: the last token, taxon and lowest score
  const token = recall("token");
  if (!token) return;
  $("token").value = token;
  if (!(await signIn(token))) return;
  $("min-score").value = recall("min-score") || "0.5";
  state.taxon = recall("taxon");
  if (state.taxon) { $("taxon").value = state.taxon; loadQueue(); }
})();
