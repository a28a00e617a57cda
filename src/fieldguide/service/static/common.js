// Helpers the service's pages share (the identify page, the review page): building elements,
// naming taxa as a biologist reads them, the decision in plain words, reference photos.
// Every request goes to this service (relative URLs); nothing is fetched from elsewhere.

// Ranks from coarsest to finest (fieldguide.taxonomy.ranks.MAIN_RANKS): lineages read this way.
export const MAIN_RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species"];

// el("p", {className: "x", "aria-label": "y"}, "text", child, ...): attributes go through
// setAttribute except properties (className, textContent, hidden...); text is never HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k in node && !k.includes("-")) node[k] = v; else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

export function pct(x) { return (100 * x).toFixed(1) + "%"; }

// The lineage coarsest first, each name after its rank ("family Fagaceae › genus Quercus");
// ranks outside the main ones keep the model card's order, after the main ones.
export function lineageElement(lineage) {
  const entries = Object.entries(lineage || {});
  const at = (r) => { const i = MAIN_RANKS.indexOf(r); return i < 0 ? MAIN_RANKS.length : i; };
  entries.sort((a, b) => at(a[0]) - at(b[0]));
  const p = el("p", { className: "lineage" });
  entries.forEach(([rank, name], i) => {
    p.append(...(i ? [" › "] : []), el("span", { className: "rank-label" }, rank), " " + name);
  });
  return p;
}

// The decision core's answer in the words a biologist uses. A rejected observation is only
// "not recognised" (its suggestions are not a decision); a decision at the rank the rule
// validates is auto-validated; one rolled up to a coarser rank is "confident at" that rank.
export function decisionText(answer) {
  const d = answer.decision, a = answer.common_ancestor;
  if (answer.rejected) {
    return "Not recognised: this photo does not look like anything the model was trained on (" +
      (answer.reject_reason || "unknown taxon") + ")";
  }
  if (d.taxon && d.auto_validated) return "Auto-validated: " + d.taxon;
  if (d.taxon) return (d.rank ? "Confident at " + d.rank + ": " : "Confident: ") + d.taxon;
  if (a && a.taxon) {
    return "Needs review: confident only at " + (a.rank ? a.rank + " level" : "a coarser level") +
      ": " + a.taxon;
  }
  return "Needs review: no taxon is likely enough to name";
}

// GET or POST to this service; a JSON error's "detail" becomes the thrown Error's message.
export async function fetchJSON(url, options) {
  const r = await fetch(url, options);
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  if (!r.ok) throw new Error((body && body.detail) || ("the service answered " + r.status));
  return body;
}

// An indexed photo's image (served by id only, as a thumbnail).
export function photoUrl(photoId, size = 240) {
  return "v1/photos/" + encodeURIComponent(photoId) + "?size=" + size;
}

// Up to three reference photos of a taxon, each a figure whose caption names the photo.
export function referenceList(taxon, references) {
  const list = el("ul", { className: "refs", "aria-label": "Reference photos of " + taxon });
  for (const ref of references) {
    list.append(el("li", {}, el("figure", {},
      el("img", { src: photoUrl(ref.photo_id), alt: "Reference photo of " + (ref.label || taxon),
                  loading: "lazy", width: 96, height: 96 }),
      el("figcaption", {}, ref.photo_id))));
  }
  return list;
}
