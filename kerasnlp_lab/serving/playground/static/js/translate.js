// The Translate panel: both translators, greedy (with the attention signature where the export
// has one) or beam search (with the n-best of `beam_nbest` where the export has it), each
// model's request time, and the attention heatmap with hover highlighting.
import { hasSignature, metadata, predict } from "./api.js";
import { clear, el, errorText, formatMs } from "./dom.js";

let sequence = 0;

// The heatmap's [T][S] matrix: rows past the generated tokens and columns never attended
// (padding) are dropped. `weights` is [T][S].
function trimmed(weights) {
  const rows = weights.filter((row) => row.some((value) => value > 0));
  const width = Math.max(0, ...rows.map((row) => row.length));
  let columns = 0;
  for (let s = 0; s < width; s++) if (rows.some((row) => row[s] > 0)) columns = s + 1;
  return rows.map((row) => row.slice(0, columns));
}

// weights [T][S]; sourceTokens/targetTokens label the axes (indices where the export gives none).
export function heatmap(weights, sourceTokens, targetTokens) {
  const matrix = trimmed(weights);
  const table = el("table", { class: "heatmap" });
  const head = el("tr", {}, el("th", { text: "" }));
  const width = matrix.length ? matrix[0].length : 0;
  const sourceCells = [];
  for (let s = 0; s < width; s++) {
    const label = sourceTokens && sourceTokens[s] !== undefined ? sourceTokens[s] : `s${s + 1}`;
    const cell = el("th", { text: label, "data-source": s });
    sourceCells.push(cell);
    head.append(cell);
  }
  table.append(el("thead", {}, head));
  const body = el("tbody");
  matrix.forEach((row, t) => {
    const label = targetTokens && targetTokens[t] !== undefined ? targetTokens[t] : `t${t + 1}`;
    const line = el("tr", { "data-target": t }, el("th", { text: label }));
    const largest = Math.max(1e-9, ...row);
    row.forEach((value, s) => {
      const cell = el("td", { title: `${label} → ${sourceCells[s].textContent}: ${value.toFixed(3)}` });
      cell.dataset.weight = String(value);
      cell.style.backgroundColor = `rgba(31, 95, 168, ${Math.min(1, value).toFixed(3)})`;
      line.append(cell);
    });
    line.addEventListener("mouseenter", () => {
      row.forEach((value, s) => {
        const strong = value >= 0.5 * largest;
        sourceCells[s].classList.toggle("highlight", strong);
        sourceCells[s].style.backgroundColor = `rgba(255, 190, 60, ${(value / largest).toFixed(3)})`;
      });
    });
    line.addEventListener("mouseleave", () => {
      for (const cell of sourceCells) {
        cell.classList.remove("highlight");
        cell.style.backgroundColor = "";
      }
    });
    body.append(line);
  });
  table.append(body);
  return table;
}

function nbestTable(translations, scores) {
  const table = el("table", { class: "nbest" });
  table.append(el("tr", {}, el("th", { text: "#" }), el("th", { text: "hypothesis" }), el("th", { text: "score" })));
  translations.forEach((text, rank) => {
    table.append(
      el(
        "tr",
        { "data-rank": rank },
        el("td", { text: String(rank + 1) }),
        el("td", { class: "hypothesis", text }),
        el("td", { class: "score", text: Number(scores[rank]).toFixed(3) }),
      ),
    );
  });
  return table;
}

// Per-layer, per-head maps [L][H][T][S] (the Transformer's cross-attention): selects of layer
// and head (or the mean over heads) above one heatmap.
function layeredHeatmap(maps, sourceTokens, targetTokens) {
  const box = el("div", { class: "layered" });
  const layer = el("select", { class: "layer" });
  const head = el("select", { class: "head" });
  maps.forEach((_, index) => layer.append(el("option", { value: String(index), text: `layer ${index + 1}` })));
  head.append(el("option", { value: "mean", text: "mean of heads" }));
  maps[0].forEach((_, index) => head.append(el("option", { value: String(index), text: `head ${index + 1}` })));
  layer.value = String(maps.length - 1);
  const holder = el("div");
  const draw = () => {
    const heads = maps[Number(layer.value)];
    let weights;
    if (head.value === "mean") {
      weights = heads[0].map((row, t) =>
        row.map((_, s) => heads.reduce((sum, map) => sum + map[t][s], 0) / heads.length),
      );
    } else weights = heads[Number(head.value)];
    clear(holder).append(heatmap(weights, sourceTokens, targetTokens));
  };
  layer.addEventListener("change", draw);
  head.addEventListener("change", draw);
  box.append(el("div", { class: "heatmap-controls" }, el("label", {}, "Layer ", layer), el("label", {}, "Head ", head)), holder);
  draw();
  return box;
}

async function translateWith(model, text, decoding, card, clicked) {
  const body = card.querySelector(".body");
  let requestMs;
  try {
    if (decoding === "beam") {
      if (await hasSignature(model, "beam_nbest")) {
        const { outputs, ms } = await predict(model, "beam_nbest", { text: [text] });
        requestMs = ms;
        const translations = outputs.translations[0];
        clear(body).append(
          el("p", { class: "translation", text: translations[0] }),
          el("p", { class: "note", text: `n-best of the beam (beam_nbest, ${translations.length} hypotheses; score = log-probability with the length penalty)` }),
          nbestTable(translations, outputs.scores[0]),
        );
      } else {
        const { outputs, ms } = await predict(model, "beam_search", { text: [text] });
        requestMs = ms;
        clear(body).append(
          el("p", { class: "translation", text: outputs.translation[0] }),
          el("p", { class: "note", text: "beam_search (this export has no n-best signature)" }),
        );
      }
    } else if (await hasSignature(model, "attention")) {
      const { outputs, ms } = await predict(model, "attention", { text: [text] });
      requestMs = ms;
      const sourceTokens = outputs.source_tokens ? outputs.source_tokens[0] : null;
      const targetTokens = outputs.target_tokens ? outputs.target_tokens[0] : null;
      const parts = [el("p", { class: "translation", text: outputs.translation[0] })];
      if (outputs.cross_attention) {
        parts.push(
          el("p", { class: "note", text: "cross-attention of each generated token (rows) on the source tokens (columns); hover a row" }),
          layeredHeatmap(outputs.cross_attention[0], sourceTokens, targetTokens),
        );
      } else if (outputs.attention_weights) {
        parts.push(
          el("p", { class: "note", text: "attention of each generated token (rows) on the source tokens (columns); hover a row" }),
          heatmap(outputs.attention_weights[0], sourceTokens, targetTokens),
        );
      }
      clear(body).append(...parts);
    } else {
      const { outputs, ms } = await predict(model, "serving_default", { text: [text] });
      requestMs = ms;
      clear(body).append(
        el("p", { class: "translation", text: outputs.translation[0] }),
        el("p", { class: "note", text: "greedy (this export has no attention signature)" }),
      );
    }
    const shownMs = performance.now() - clicked;
    card.dataset.requestMs = requestMs.toFixed(1);
    card.dataset.shownMs = shownMs.toFixed(1);
    card.querySelector(".time").textContent = `request ${formatMs(requestMs)}`;
    card.dataset.state = "done";
  } catch (error) {
    clear(body).append(errorText(error));
    card.dataset.state = "error";
  }
}

async function submit(event) {
  event.preventDefault();
  const clicked = performance.now();
  const mine = ++sequence;
  const form = document.getElementById("translate-form");
  const text = document.getElementById("translate-text").value;
  const decoding = form.querySelector('input[name="decoding"]:checked').value;
  const models = [...form.querySelectorAll('input[name="model"]:checked')].map((box) => box.value);
  const root = clear(document.getElementById("translate-results"));
  root.dataset.sequence = String(mine);
  await Promise.all(
    models.map((model) => {
      const card = el(
        "div",
        { class: "card", "data-model": model, "data-state": "running" },
        el("h3", {}, `${model} `, el("span", { class: "time" })),
        el("div", { class: "body" }, el("p", { class: "note", text: "translating…" })),
      );
      root.append(card);
      return translateWith(model, text, decoding, card, clicked);
    }),
  );
}

export function setup() {
  document.getElementById("translate-form").addEventListener("submit", submit);
}

export function render() {
  // The signatures a translation looks up, fetched before the first click.
  for (const model of ["attention_nmt", "transformer_translator"]) metadata(model).catch(() => {});
}
