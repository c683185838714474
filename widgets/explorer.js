// Front-end of hmxai's rate explorer: one plain ES module for anywidget (no build step), two views.
//  * "panel": original, decoded (+ explanation overlay), where the bits go, |error|, the numbers and
//    the top-5 before/after. Images arrive as PNG bytes (binary buffers, not base64).
//  * "channels": per-latent-channel bars (bits, machine and human importance) in the order channels
//    are sent; sent channels coloured, dropped grey; a click toggles a channel ("toggle" message).
// The helpers are named exports so that node's test runner can check them (tests/js/).

/** Bytes of a binary trait (DataView, ArrayBuffer, typed array) as a Uint8Array, or null. */
export function asBytes(value) {
  if (value == null) return null;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

/** Replace an <img>'s PNG, revoking the previous object URL (nothing piles up). */
export function showPng(img, value, urls = globalThis.URL) {
  const bytes = asBytes(value);
  const old = img.dataset.url;
  if (bytes && bytes.length) {
    const url = urls.createObjectURL(new Blob([bytes], { type: "image/png" }));
    img.src = url;
    img.dataset.url = url;
    img.dataset.bytes = String(bytes.length);
    img.hidden = false;
  } else {
    img.removeAttribute("src");
    delete img.dataset.url;
    img.dataset.bytes = "0";
    img.hidden = true;
  }
  if (old) urls.revokeObjectURL(old);
}

/** CSS width of a bit map with `cells` pixels across, `cell` image pixels each, over an image `width` wide. */
export function bitmapWidth(cells, cell, width) {
  if (!cells || !cell || !width) return "100%";
  return `${(100 * cells * cell) / width}%`;
}

/** A number for the table: fixed digits, "n/a" for null/NaN, optional unit. */
export function fmt(value, digits = 3, unit = "") {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return value.toFixed(digits) + (unit ? " " + unit : "");
}

/** Rows of the numbers table from the view's numbers dict. */
export function numberRows(n) {
  if (!n || n.codec === undefined) return [];
  const rows = [
    ["rate (measured)", fmt(n.measured_bpp, 4, "bpp"), "bpp-measured"],
    ["rate (estimated)", fmt(n.estimated_bpp, 4, "bpp"), "bpp-estimated"],
    ["PSNR", fmt(n.psnr, 2, "dB"), "psnr"],
    ["MS-SSIM", fmt(n.ms_ssim, 4), "ms-ssim"],
    ["top-1 agreement", fmt(n.agreement), "agreement"],
    [`p(${n.target_label})`, fmt(n.target_probability, 3), "target-probability"],
  ];
  if (n.num_channels) rows.push(["channels sent", `${n.channels_kept} / ${n.num_channels}`, "channels"]);
  if (n.spikes !== undefined && n.spikes !== null) {  // a spiking task: its work on this decoded image
    rows.push(["spikes (T=" + n.steps + ")", (n.spikes / 1e6).toFixed(2) + " M", "spikes"]);
    rows.push(["energy SNN / ANN", fmt(n.energy_j * 1e3, 3, "mJ") + " / " + fmt(n.ann_energy_j * 1e3, 3, "mJ"), "energy"]);
  }
  return rows;
}

/** A new element with a class. */
function make(tag, cls) {
  const node = document.createElement(tag);
  node.className = cls;
  return node;
}

function table(rows, cls) {
  const t = document.createElement("table");
  t.className = cls;
  for (const cells of rows) {
    const tr = document.createElement("tr");
    cells.forEach((c, i) => {
      const td = document.createElement(i === 0 ? "th" : "td");
      td.textContent = c;
      tr.appendChild(td);
    });
    t.appendChild(tr);
  }
  return t;
}

function top5Rows(before, after) {
  const rows = [["#", "original", "decoded"]];
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    const b = before[i], a = after[i];
    rows.push([String(i + 1), b ? `${b.label} ${(100 * b.probability).toFixed(1)}%` : "",
               a ? `${a.label} ${(100 * a.probability).toFixed(1)}%` : ""]);
  }
  return rows;
}

function figure(cls, caption) {
  const fig = document.createElement("figure");
  fig.className = "hmx-fig " + cls;
  const frame = make("div", "hmx-frame");
  const img = document.createElement("img");
  img.className = "hmx-img " + cls;
  img.alt = caption;
  frame.appendChild(img);
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(frame, cap);
  return { fig, frame, img, cap };
}

function renderPanel(model, el) {
  el.classList.add("hmx-panel");
  const grid = make("div", "hmx-grid");
  const original = figure("original", "original");
  const decoded = figure("decoded", "decoded");
  const over = make("img", "hmx-img overlay");
  over.alt = "explanation overlay";
  decoded.frame.appendChild(over);
  const bits = figure("bitmap", "where the bits go");
  const error = figure("error", "|error|");
  grid.append(original.fig, decoded.fig, bits.fig, error.fig);

  const side = make("div", "hmx-side");
  const statusLine = make("div", "hmx-status");
  const numbers = make("div", "hmx-numbers");
  const top5 = make("div", "hmx-top5");
  const opacity = document.createElement("input");
  opacity.type = "range";
  opacity.min = "0";
  opacity.max = "1";
  opacity.step = "0.05";
  opacity.value = "0.85";
  opacity.title = "explanation overlay opacity";
  opacity.className = "hmx-opacity";
  const opLabel = document.createElement("label");
  opLabel.textContent = "overlay ";
  opLabel.appendChild(opacity);
  side.append(statusLine, numbers, top5, opLabel);
  el.append(grid, side);

  const setOpacity = () => { over.style.opacity = opacity.value; };
  opacity.addEventListener("input", setOpacity);
  setOpacity();

  // one handler per trait: a view arrives as one message that changes several traits, and each
  // image is decoded only when its own bytes change
  const images = { original: original.img, decoded: decoded.img, overlay: over, bitmap: bits.img, error: error.img };
  const handlers = {};
  for (const [name, img] of Object.entries(images)) handlers[name] = () => showPng(img, model.get(name));
  const text = () => {
    const n = model.get("numbers") || {};
    const s = model.get("scales") || {};
    decoded.cap.textContent = n.codec === undefined ? "decoded"
      : `${n.codec} q${n.quality}` + (n.method && n.method !== "none" ? ` + ${n.method}` : "");
    // one pixel per latent cell: the last cells may reach past the image, so the picture is
    // widened by (cells x cell) / W inside a frame with the image's aspect, and clipped
    const [H, W] = n.image_size || [0, 0];
    const cell = model.get("bitmap_cell") || 0;
    bits.frame.style.aspectRatio = W && H ? `${W} / ${H}` : "";
    bits.img.onload = () => { bits.img.style.width = bitmapWidth(bits.img.naturalWidth, cell, W); };
    bits.cap.textContent = model.get("bitmap")?.byteLength ? `bits per pixel (0 to ${s.bits ?? "?"})` : "no latent (classical codec)";
    error.cap.textContent = `|error| (0 to ${s.error ?? "?"})`;
    const rows = numberRows(n);
    numbers.replaceChildren(table(rows.map(r => r.slice(0, 2)), "hmx-table"));
    numbers.querySelectorAll("tr").forEach((tr, i) => { tr.dataset.key = rows[i][2]; });
    top5.replaceChildren(table(top5Rows(n.top5_original || [], n.top5_decoded || []), "hmx-table hmx-top5-table"));
  };
  const status = () => {
    statusLine.textContent = model.get("status") || "";
    el.dataset.state = model.get("status") ? "busy" : "ready";
  };
  for (const name of ["numbers", "scales", "bitmap_cell"]) handlers[name] = text;
  handlers.status = status;
  for (const [name, fn] of Object.entries(handlers)) model.on(`change:${name}`, fn);
  for (const fn of new Set(Object.values(handlers))) fn();
  return () => {
    for (const [name, fn] of Object.entries(handlers)) model.off(`change:${name}`, fn);
    for (const img of el.querySelectorAll("img")) showPng(img, null);
  };
}

/** A binary trait as a typed array of the given constructor (little-endian buffers). */
export function typed(value, Type = Float32Array) {
  const bytes = asBytes(value);
  if (!bytes || bytes.byteLength === 0) return new Type(0);
  const copy = new Uint8Array(bytes); // aligned copy
  return new Type(copy.buffer, 0, copy.byteLength / Type.BYTES_PER_ELEMENT);
}

/** Bar geometry for n channels across width pixels: left edge and width of each bar. */
export function layout(n, width, gap = 1) {
  if (n <= 0) return { step: 0, bar: 0, x: [] };
  const step = width / n;
  const bar = Math.max(1, step - (step > 3 ? gap : 0));
  return { step, bar, x: Array.from({ length: n }, (_, i) => i * step) };
}

/** Slot (position in the order) under pixel x, or -1 outside. */
export function slotAt(x, n, width) {
  if (n <= 0 || x < 0 || x >= width) return -1;
  return Math.min(n - 1, Math.floor((x * n) / width));
}

/** Heights in [0, 1] of signed values: v / max|v| (0 when all are 0); sign kept. */
export function relative(values) {
  let peak = 0;
  for (const v of values) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
  return Array.from(values, v => (peak > 0 && Number.isFinite(v) ? v / peak : 0));
}

const ROWS = [
  { key: "bits", label: "bits", color: "#4c72b0" },
  { key: "machine", label: "machine", color: "#dd8452" },
  { key: "human", label: "human", color: "#55a868" },
];

function renderChannels(model, el) {
  el.classList.add("hmx-channels");
  const title = make("div", "hmx-channels-title");
  const scores = make("div", "hmx-channels-method");
  const canvas = make("canvas", "hmx-channels-canvas");
  const tip = make("div", "hmx-channels-tip");
  el.append(title, scores, canvas, tip);
  const width = () => Math.max(200, Math.floor(el.clientWidth || 720));
  const rowHeight = 46;

  const data = () => ({
    bits: typed(model.get("bits")),
    machine: typed(model.get("machine")),
    human: typed(model.get("human")),
    order: typed(model.get("order"), Int32Array),
    kept: typed(model.get("kept"), Uint8Array),
  });

  const draw = () => {
    const d = data();
    const n = d.order.length;
    const w = width();
    const h = rowHeight * ROWS.length;
    const ratio = globalThis.devicePixelRatio || 1;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    tip.textContent = "";
    const sent = Array.from(d.order).filter(c => d.kept[c]).length;
    title.textContent = n ? `${sent} of ${n} latent channels sent, in sending order (${model.get("ordering")}); click a bar to toggle a channel`
                          : "no latent channels (classical codec)";
    el.dataset.channels = String(n);
    el.dataset.sent = String(sent);
    scores.textContent = model.get("scores") || "";
    el.dataset.method = model.get("method") || "";
    if (!n) return;
    const geo = layout(n, w);
    ROWS.forEach((row, r) => {
      const values = d[row.key];
      const top = r * rowHeight;
      const mid = top + rowHeight / 2;
      ctx.fillStyle = "#666";
      ctx.font = "10px sans-serif";
      ctx.fillText(row.label, 2, top + 10);
      if (values.length !== n) return;
      const ordered = Array.from(d.order, c => values[c]);
      const rel = relative(ordered);
      const signed = ordered.some(v => v < 0);
      const base = signed ? mid : top + rowHeight - 2;
      const scale = signed ? rowHeight / 2 - 6 : rowHeight - 14;
      rel.forEach((v, i) => {
        ctx.fillStyle = d.kept[d.order[i]] ? row.color : "#c8c8c8";
        const hgt = v * scale;
        ctx.fillRect(geo.x[i], hgt >= 0 ? base - hgt : base, geo.bar, Math.max(1, Math.abs(hgt)));
      });
    });
  };

  const onClick = event => {
    const d = data();
    const rect = canvas.getBoundingClientRect();
    const slot = slotAt(event.clientX - rect.left, d.order.length, rect.width);
    if (slot >= 0) model.send({ type: "toggle", channel: d.order[slot] });
  };
  const onMove = event => {
    const d = data();
    const rect = canvas.getBoundingClientRect();
    const slot = slotAt(event.clientX - rect.left, d.order.length, rect.width);
    if (slot < 0) { tip.textContent = ""; return; }
    const c = d.order[slot];
    tip.textContent = `channel ${c}: ${d.bits[c]?.toFixed(1)} bits, machine ${d.machine[c]?.toExponential(2)}, ` +
      `human ${d.human[c]?.toExponential(2)}, ${d.kept[c] ? "sent" : "dropped"}`;
  };
  canvas.addEventListener("click", onClick);
  canvas.addEventListener("mousemove", onMove);
  // a view changes several traits in one message: draw once, at the next frame
  let queued = false;
  const schedule = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; draw(); });
  };
  const names = ["bits", "machine", "human", "order", "kept", "ordering", "scores", "method"];
  for (const name of names) model.on(`change:${name}`, schedule);
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => draw());
  observer?.observe(el);
  draw();
  return () => {
    for (const name of names) model.off(`change:${name}`, schedule);
    canvas.removeEventListener("click", onClick);
    canvas.removeEventListener("mousemove", onMove);
    observer?.disconnect();
  };
}

function render({ model, el }) {
  return model.get("view") === "channels" ? renderChannels(model, el) : renderPanel(model, el);
}

export default { render };
