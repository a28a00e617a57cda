// The place picker: Natural Earth's land outlines (TopoJSON, served at v1/map/land) drawn on a
// canvas in the plate carrée projection (x is longitude, y latitude: a click reads back as
// coordinates with no projection maths to get wrong), with zoom, pan, a marker and the keyboard.

const COLOURS = { sea: "#d6e8f5", grid: "#b8d0e2", land: "#c2d6a8", coast: "#55743f",
                  marker: "#c8102e", markerEdge: "#ffffff" };
const MAX_ZOOM = 32;
const DRAG_PX = 4;  // a pointer that moves less than this between down and up is a click

// The rings of a TopoJSON object: each a flat [lon0, lat0, lon1, lat1, ...] array. Arcs are
// delta-encoded integers when the topology is quantised (a "transform"); a negative arc index
// ~i is arc i reversed; consecutive arcs of a ring share their joining point.
export function topologyRings(topology, name) {
  const t = topology.transform;
  const arcs = topology.arcs.map((arc) => {
    const out = new Float64Array(arc.length * 2);
    let x = 0, y = 0;
    for (let i = 0; i < arc.length; i++) {
      if (t) {
        x += arc[i][0]; y += arc[i][1];
        out[2 * i] = x * t.scale[0] + t.translate[0];
        out[2 * i + 1] = y * t.scale[1] + t.translate[1];
      } else {
        out[2 * i] = arc[i][0]; out[2 * i + 1] = arc[i][1];
      }
    }
    return out;
  });
  const ring = (indices) => {
    const points = [];
    indices.forEach((a, k) => {
      const arc = arcs[a < 0 ? ~a : a], n = arc.length / 2;
      for (let i = k ? 1 : 0; i < n; i++) {
        const j = a < 0 ? n - 1 - i : i;
        points.push(arc[2 * j], arc[2 * j + 1]);
      }
    });
    return points;
  };
  const rings = [];
  const visit = (g) => {
    if (g.type === "GeometryCollection") g.geometries.forEach(visit);
    else if (g.type === "Polygon") g.arcs.forEach((r) => rings.push(unwrapped(ring(r))));
    else if (g.type === "MultiPolygon") {
      g.arcs.forEach((p) => p.forEach((r) => rings.push(unwrapped(ring(r)))));
    }
  };
  visit(topology.objects[name]);
  return rings;
}

// A ring that crosses the antimeridian (eastern Russia, Fiji) jumps from 180° to -180°
// between two points: shifted by whole turns it runs on without the jump (and is drawn once
// more a turn to either side). A ring round a pole (Antarctica) then ends a turn away from
// where it began, so it is closed along the pole.
function unwrapped(points) {
  const out = points.slice();
  let shift = 0, lat = 0;
  for (let i = 2; i < out.length; i += 2) {
    const step = points[i] - points[i - 2];
    if (step > 180) shift -= 360; else if (step < -180) shift += 360;
    out[i] = points[i] + shift;
    lat += points[i + 1];
  }
  if (shift !== 0) {
    const pole = lat < 0 ? -90 : 90;
    out.push(out[out.length - 2], pole, out[0], pole);
  }
  return out;
}

function clamp(x, lo, hi) { return Math.min(hi, Math.max(lo, x)); }

export class WorldMap {
  // box: the focusable element that holds the canvas; onPick(lat, lon) is called when the
  // user sets the point on the map (not when setPoint is called from outside).
  constructor(box, onPick) {
    this.box = box;
    this.canvas = box.querySelector("canvas");
    this.onPick = onPick;
    this.rings = null;
    this.centre = [0, 0];  // lon, lat at the middle of the view
    this.zoom = 1;
    this.point = null;  // [lat, lon]
    this.listen();
    new ResizeObserver(() => this.draw()).observe(box);
  }

  async load(url) {
    const r = await fetch(url);
    if (!r.ok) {
      let detail = "";
      try { detail = (await r.json()).detail || ""; } catch { detail = ""; }
      throw new Error(detail || "the service answered " + r.status);
    }
    this.rings = topologyRings(await r.json(), "land");
    this.draw();
  }

  get width() { return this.canvas.clientWidth; }
  get height() { return this.canvas.clientHeight; }
  get scale() { return (this.width / 360) * this.zoom; }  // CSS pixels per degree

  project(lon, lat) {
    return [this.width / 2 + (lon - this.centre[0]) * this.scale,
            this.height / 2 - (lat - this.centre[1]) * this.scale];
  }

  invert(x, y) {
    return [clamp(this.centre[0] + (x - this.width / 2) / this.scale, -180, 180),
            clamp(this.centre[1] - (y - this.height / 2) / this.scale, -90, 90)];
  }

  // The view never shows beyond the world's edges.
  keepInside() {
    const halfLon = 180 / this.zoom, halfLat = (this.height / 2) / this.scale;
    this.centre = [clamp(this.centre[0], -180 + halfLon, 180 - halfLon),
                   clamp(this.centre[1], -90 + halfLat, 90 - halfLat)];
  }

  zoomBy(factor, at) {
    const [x, y] = at || [this.width / 2, this.height / 2];
    const [lon, lat] = this.invert(x, y);
    this.zoom = clamp(this.zoom * factor, 1, MAX_ZOOM);
    // keep the place under the pointer where it was
    this.centre = [lon - (x - this.width / 2) / this.scale, lat + (y - this.height / 2) / this.scale];
    this.keepInside();
    this.draw();
  }

  reset() { this.zoom = 1; this.centre = [0, 0]; this.draw(); }

  // Put the marker at (lat, lon), or take it away with null; the view follows a point
  // that would fall outside it.
  setPoint(lat, lon) {
    this.point = lat === null ? null : [clamp(lat, -90, 90), clamp(lon, -180, 180)];
    if (this.point) {
      const [x, y] = this.project(this.point[1], this.point[0]);
      if (x < 0 || y < 0 || x > this.width || y > this.height) {
        this.centre = [this.point[1], this.point[0]];
        this.keepInside();
      }
    }
    this.draw();
  }

  pick(lat, lon) {
    this.setPoint(lat, lon);
    this.onPick(this.point[0], this.point[1]);
  }

  draw() {
    const dpr = window.devicePixelRatio || 1, w = this.width, h = this.height;
    if (!w || !h) return;
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    this.keepInside();
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = COLOURS.sea;
    ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = COLOURS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let lon = -180; lon <= 180; lon += 30) {
      const [x] = this.project(lon, 0);
      ctx.moveTo(x, 0); ctx.lineTo(x, h);
    }
    for (let lat = -60; lat <= 60; lat += 30) {
      const [, y] = this.project(0, lat);
      ctx.moveTo(0, y); ctx.lineTo(w, y);
    }
    ctx.stroke();
    if (this.rings) {
      ctx.beginPath();
      for (const turn of [-360, 0, 360]) {
        for (const ring of this.rings) {
          for (let i = 0; i < ring.length; i += 2) {
            const [x, y] = this.project(ring[i] + turn, ring[i + 1]);
            if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          }
          ctx.closePath();
        }
      }
      ctx.fillStyle = COLOURS.land;
      ctx.fill("evenodd");
      ctx.strokeStyle = COLOURS.coast;
      ctx.lineWidth = 0.8;
      ctx.stroke();
    }
    if (this.point) {
      const [x, y] = this.project(this.point[1], this.point[0]);
      ctx.beginPath();
      ctx.arc(x, y, 7, 0, 2 * Math.PI);
      ctx.fillStyle = COLOURS.marker;
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = COLOURS.markerEdge;
      ctx.stroke();
    }
  }

  listen() {
    const c = this.canvas;
    let down = null;  // {x, y, centre, moved}
    const local = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    c.addEventListener("pointerdown", (e) => {
      const [x, y] = local(e);
      down = { x, y, centre: this.centre.slice(), moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (!down) return;
      const [x, y] = local(e);
      if (Math.hypot(x - down.x, y - down.y) > DRAG_PX) down.moved = true;
      if (!down.moved) return;
      this.centre = [down.centre[0] - (x - down.x) / this.scale,
                     down.centre[1] + (y - down.y) / this.scale];
      this.draw();
    });
    c.addEventListener("pointerup", (e) => {
      if (down && !down.moved) {
        const [lon, lat] = this.invert(...local(e));
        this.pick(lat, lon);
      }
      down = null;
    });
    c.addEventListener("pointercancel", () => { down = null; });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomBy(e.deltaY < 0 ? 1.5 : 1 / 1.5, local(e));
    }, { passive: false });
    // Arrows move the point (from the middle of the view when there is none) by a twentieth
    // of the view's width; Shift, a hundredth. + and - zoom, 0 shows the whole world, Enter or the
    // space bar set the point at the middle of the view.
    this.box.addEventListener("keydown", (e) => {
      const arrows = { ArrowUp: [1, 0], ArrowDown: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (e.target !== this.box) return;
      if (e.key in arrows) {
        const step = (e.shiftKey ? 0.01 : 0.05) * 360 / this.zoom;
        const [lat, lon] = this.point || [this.centre[1], this.centre[0]];
        const [dy, dx] = arrows[e.key];
        this.pick(lat + dy * step, lon + dx * step);
      } else if (e.key === "+" || e.key === "=") {
        this.zoomBy(2, this.point ? this.project(this.point[1], this.point[0]) : null);
      } else if (e.key === "-") {
        this.zoomBy(0.5);
      } else if (e.key === "0") {
        this.reset();
      } else if (e.key === "Enter" || e.key === " ") {
        this.pick(this.centre[1], this.centre[0]);
      } else {
        return;
      }
      e.preventDefault();
    });
  }
}
