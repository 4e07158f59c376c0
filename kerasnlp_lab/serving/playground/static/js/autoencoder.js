// The Autoencoder panel: draw or pick an image; its reconstruction (serving_default), its code
// (encode) as bars, and decode() of a mix of two images' codes.
import { predict } from "./api.js";
import { clear, el } from "./dom.js";

const MODEL = "autoencoder";
const SIZE = 28;
const SCALE = 10; // canvas pixels per image pixel
const DRAWING = "drawing";

const drawing = new Float32Array(SIZE * SIZE);
let samples = []; // [{label, pixels: Float32Array}]
let sequence = 0; // the latest request wins
let encodeSequence = 0;
let decodeSequence = 0;
let walkCodes = null; // [codeFrom, codeTo]

function rows(pixels) {
  const image = [];
  for (let y = 0; y < SIZE; y++) image.push(Array.from(pixels.subarray(y * SIZE, (y + 1) * SIZE)));
  return image;
}

export function paint(canvas, image) {
  // image: 28 rows of 28 values in [0, 1]; each pixel a SCALE x SCALE square of its gray.
  const context = canvas.getContext("2d");
  const scale = canvas.width / SIZE;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const value = Math.round(Math.min(1, Math.max(0, image[y][x])) * 255);
      context.fillStyle = `rgb(${value},${value},${value})`;
      context.fillRect(x * scale, y * scale, scale, scale);
    }
  }
}

function showCode(code) {
  const root = clear(document.getElementById("ae-code"));
  const largest = Math.max(1e-6, ...code.map(Math.abs));
  const signed = code.some((value) => value < 0);
  code.forEach((value, index) => {
    const bar = el("div", { class: value < 0 ? "bar negative" : "bar" });
    const fraction = Math.abs(value) / largest;
    const span = signed ? 50 : 100;
    bar.style.height = `${fraction * span}%`;
    bar.style.bottom = signed && value < 0 ? `${50 - fraction * 50}%` : signed ? "50%" : "0";
    root.append(
      el(
        "div",
        { class: "bar-slot", title: `code[${index}] = ${value.toFixed(4)}`, "data-value": value },
        bar,
      ),
    );
  });
}

function setStatus(text, isError = false) {
  const node = document.getElementById("ae-status");
  node.textContent = text;
  node.className = isError ? "status error" : "status";
}

async function run(pixels) {
  const mine = ++sequence;
  const images = [rows(pixels)];
  try {
    const [reconstructed, encoded] = await Promise.all([
      predict(MODEL, "serving_default", { images }),
      predict(MODEL, "encode", { images }),
    ]);
    if (mine !== sequence) return;
    paint(document.getElementById("ae-reconstruction"), reconstructed.outputs.reconstructions[0]);
    showCode(encoded.outputs.codes[0]);
    setStatus(
      `reconstruction ${reconstructed.ms.toFixed(0)} ms, code ${encoded.ms.toFixed(0)} ms`,
    );
    document.getElementById("panel-autoencoder").dataset.done = String(mine);
  } catch (error) {
    if (mine === sequence) setStatus(`Error: ${error.message}`, true);
  }
}

function brush(gx, gy) {
  for (let y = Math.floor(gy - 2); y <= Math.ceil(gy + 2); y++) {
    for (let x = Math.floor(gx - 2); x <= Math.ceil(gx + 2); x++) {
      if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) continue;
      const d2 = (x + 0.5 - gx) ** 2 + (y + 0.5 - gy) ** 2;
      const value = Math.exp(-d2 / (2 * 0.9 * 0.9));
      drawing[y * SIZE + x] = Math.max(drawing[y * SIZE + x], value > 0.05 ? value : 0);
    }
  }
}

function setupDrawing() {
  const canvas = document.getElementById("ae-draw");
  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) / box.width) * SIZE,
      ((event.clientY - box.top) / box.height) * SIZE,
    ];
  };
  const stroke = (to) => {
    const from = last || to;
    const steps = Math.max(1, Math.ceil(Math.hypot(to[0] - from[0], to[1] - from[1]) * 3));
    for (let i = 1; i <= steps; i++) {
      brush(from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps);
    }
    last = to;
    paint(canvas, rows(drawing));
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = null;
    stroke(point(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (last !== null) stroke(point(event));
  });
  const end = () => {
    if (last === null) return;
    last = null;
    run(drawing);
    if ([fromSelect().value, toSelect().value].includes(DRAWING)) encodeWalk();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  document.getElementById("ae-clear").addEventListener("click", () => {
    drawing.fill(0);
    paint(canvas, rows(drawing));
  });
  paint(canvas, rows(drawing));
}

const fromSelect = () => document.getElementById("ae-from");
const toSelect = () => document.getElementById("ae-to");

function pixelsOf(choice) {
  return choice === DRAWING ? drawing : samples[Number(choice)].pixels;
}

async function encodeWalk() {
  const mine = ++encodeSequence;
  const images = [rows(pixelsOf(fromSelect().value)), rows(pixelsOf(toSelect().value))];
  try {
    const { outputs } = await predict(MODEL, "encode", { images });
    if (mine !== encodeSequence) return;
    walkCodes = outputs.codes;
    await decodeWalk();
  } catch (error) {
    setStatus(`Error: ${error.message}`, true);
  }
}

async function decodeWalk() {
  if (walkCodes === null) return;
  const t = Number(document.getElementById("ae-t").value);
  document.getElementById("ae-t-value").textContent = t.toFixed(2);
  const [a, b] = walkCodes;
  const mixed = a.map((value, index) => (1 - t) * value + t * b[index]);
  const mine = ++decodeSequence;
  try {
    const { outputs } = await predict(MODEL, "decode", { codes: [mixed] });
    if (mine !== decodeSequence) return;
    paint(document.getElementById("ae-interpolation"), outputs.reconstructions[0]);
    const panel = document.getElementById("panel-autoencoder");
    panel.dataset.walkT = t.toFixed(2);
  } catch (error) {
    setStatus(`Error: ${error.message}`, true);
  }
}

async function loadSamples() {
  const response = await fetch("test_images.json", { cache: "no-store" });
  const document_ = await response.json();
  samples = document_.images.map((image) => {
    const bytes = Uint8Array.from(atob(image.pixels), (c) => c.charCodeAt(0));
    return { label: image.label, pixels: Float32Array.from(bytes, (v) => v / 255) };
  });
  const root = clear(document.getElementById("ae-samples"));
  samples.forEach((sample, index) => {
    const thumb = el("canvas", { width: 56, height: 56 });
    paint(thumb, rows(sample.pixels));
    const button = el(
      "button",
      { type: "button", title: sample.label, "data-sample": index },
      thumb,
    );
    button.addEventListener("click", () => {
      drawing.set(sample.pixels);
      paint(document.getElementById("ae-draw"), rows(drawing));
      run(drawing);
    });
    root.append(button);
  });
  for (const [select, chosen] of [
    [fromSelect(), "0"],
    [toSelect(), "1"],
  ]) {
    clear(select);
    samples.forEach((sample, index) =>
      select.append(el("option", { value: String(index), text: `${index}: ${sample.label}` })),
    );
    select.append(el("option", { value: DRAWING, text: "your drawing" }));
    select.value = chosen;
  }
}

let started = false;

export async function render() {
  if (started) return;
  started = true;
  try {
    await loadSamples();
    await encodeWalk();
  } catch (error) {
    setStatus(`Error: ${error.message}`, true);
  }
}

export function setup() {
  setupDrawing();
  fromSelect().addEventListener("change", encodeWalk);
  toSelect().addEventListener("change", encodeWalk);
  document.getElementById("ae-t").addEventListener("input", decodeWalk);
}
