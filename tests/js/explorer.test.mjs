// Unit tests of the explorer front-end's helpers (node --test; run by tests/test_frontend.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { asBytes, bitmapWidth, fmt, layout, numberRows, relative, showPng, slotAt, typed } from "../../widgets/explorer.js";

test("asBytes reads DataViews, buffers and typed arrays without copying", () => {
  const buf = new Uint8Array([9, 1, 2, 3, 4]).buffer;
  assert.deepEqual([...asBytes(new DataView(buf, 1, 3))], [1, 2, 3]);
  assert.deepEqual([...asBytes(buf)], [9, 1, 2, 3, 4]);
  assert.equal(asBytes(null), null);
  assert.equal(asBytes("text"), null);
});

test("typed decodes little-endian float32 and int32 buffers, also from an unaligned view", () => {
  const f = new Float32Array([1.5, -2.25, 3]);
  const bytes = new Uint8Array(1 + f.byteLength);
  bytes.set(new Uint8Array(f.buffer), 1);
  const view = new DataView(bytes.buffer, 1, f.byteLength); // offset 1: not 4-byte aligned
  assert.deepEqual([...typed(view)], [1.5, -2.25, 3]);
  assert.deepEqual([...typed(new DataView(new Int32Array([7, -1]).buffer), Int32Array)], [7, -1]);
  assert.equal(typed(null).length, 0);
});

test("layout and slotAt agree: every bar's centre maps back to its slot", () => {
  for (const [n, width] of [[96, 720], [192, 500], [5, 200], [1, 50]]) {
    const geo = layout(n, width);
    assert.equal(geo.x.length, n);
    geo.x.forEach((x, i) => assert.equal(slotAt(x + geo.bar / 2, n, width), i));
    assert.ok(geo.bar >= 1 && geo.bar <= geo.step);
  }
  assert.equal(slotAt(-1, 10, 100), -1);
  assert.equal(slotAt(100, 10, 100), -1);
  assert.equal(slotAt(99.99, 10, 100), 9);
  assert.equal(layout(0, 100).x.length, 0);
});

test("relative keeps signs and scales by the largest magnitude; NaN and all-zero give 0", () => {
  assert.deepEqual(relative([2, -4, 1]), [0.5, -1, 0.25]);
  assert.deepEqual(relative([0, 0]), [0, 0]);
  assert.deepEqual(relative([NaN, 2]), [0, 1]);
});

test("fmt and numberRows: units, n/a for missing values, channels only for learned codecs", () => {
  assert.equal(fmt(0.123456, 4, "bpp"), "0.1235 bpp");
  assert.equal(fmt(null), "n/a");
  assert.equal(fmt(NaN), "n/a");
  assert.equal(fmt(true), "yes");
  const learned = numberRows({ codec: "hmxai-msh", measured_bpp: 0.5, estimated_bpp: 0.49, psnr: 30, ms_ssim: 0.97,
                               agreement: false, target_label: "tabby", target_probability: 0.4,
                               num_channels: 96, channels_kept: 20 });
  assert.deepEqual(learned.map(r => r[2]), ["bpp-measured", "bpp-estimated", "psnr", "ms-ssim", "agreement",
                                           "target-probability", "channels"]);
  assert.equal(learned.at(-1)[1], "20 / 96");
  const classical = numberRows({ codec: "jpeg", measured_bpp: 1, estimated_bpp: null, num_channels: null });
  assert.equal(classical.find(r => r[2] === "bpp-estimated")[1], "n/a");
  assert.ok(!classical.some(r => r[2] === "channels"));
  assert.deepEqual(numberRows({}), []);
  assert.ok(!learned.some(r => r[2] === "spikes"));  // no spike rows for an ANN task
  const spiking = numberRows({ codec: "jpeg", measured_bpp: 1, num_channels: null, spikes: 4.2e6, steps: 16,
                               energy_j: 0.0123, ann_energy_j: 0.0018 });
  assert.deepEqual(spiking.slice(-2).map(r => r[2]), ["spikes", "energy"]);
  assert.equal(spiking.at(-2)[0], "spikes (T=16)");
  assert.equal(spiking.at(-2)[1], "4.20 M");
  assert.equal(spiking.at(-1)[1], "12.300 mJ / 1.800 mJ");
});

test("showPng swaps object URLs and revokes the previous one", () => {
  const made = [], revoked = [];
  const urls = { createObjectURL: () => { const u = `blob:${made.length}`; made.push(u); return u; },
                 revokeObjectURL: u => revoked.push(u) };
  const img = { dataset: {}, hidden: true, src: "", removeAttribute(name) { delete this[name]; } };
  showPng(img, new Uint8Array([137, 80, 78, 71]), urls);
  assert.equal(img.src, "blob:0");
  assert.equal(img.hidden, false);
  showPng(img, new Uint8Array([137, 80, 78, 71, 1]), urls);
  assert.equal(img.src, "blob:1");
  assert.deepEqual(revoked, ["blob:0"]);
  assert.equal(img.dataset.bytes, "5");
  showPng(img, new Uint8Array(0), urls);
  assert.equal(img.hidden, true);
  assert.equal(img.src, undefined);
  assert.deepEqual(revoked, ["blob:0", "blob:1"]);
});

test("bitmapWidth widens a cell grid that reaches past the image", () => {
  assert.equal(bitmapWidth(48, 16, 768), "100%");
  assert.equal(bitmapWidth(7, 16, 100), "112%");
  assert.equal(bitmapWidth(0, 16, 100), "100%");
  assert.equal(bitmapWidth(7, 0, 100), "100%");
});
