// The Generate panel: prompt, temperature, seed and length through serving_default; the text as
// characters to click, and for the clicked position the top-5 next characters (the export's
// `next_chars` signature, where it has one).
import { hasSignature, predict } from "./api.js";
import { clear, el, errorText, formatMs } from "./dom.js";

const MODEL = "char_generator";
let sequence = 0;

function shown(character) {
  if (character === "\n") return "↵";
  if (character === " ") return "␣";
  return character;
}

function topTable(characters, probabilities) {
  const table = el("table", { class: "topk" });
  characters.forEach((character, rank) => {
    const probability = Number(probabilities[rank]);
    const meter = el("span", { class: "meter" });
    meter.style.width = `${Math.round(probability * 200)}px`;
    table.append(
      el(
        "tr",
        { "data-rank": rank },
        el("td", { class: "char", text: shown(character) }),
        el("td", { class: "probability", text: probability.toFixed(3) }),
        el("td", {}, meter),
      ),
    );
  });
  return table;
}

async function showNext(text, position, box) {
  clear(box).append(el("p", { class: "note", text: "…" }));
  try {
    const { outputs } = await predict(MODEL, "next_chars", { text: [text] });
    const characters = outputs.top_chars[0][position];
    const probabilities = outputs.top_probs[0][position];
    const context = Array.from(text).slice(Math.max(0, position - 20), position + 1).join("");
    clear(box).append(
      el("p", {}, "After “", el("code", { text: context }), `” (position ${position + 1}), the model's top 5:`),
      topTable(characters, probabilities),
    );
    box.dataset.position = String(position);
  } catch (error) {
    clear(box).append(errorText(error));
  }
}

async function submit(event) {
  event.preventDefault();
  const mine = ++sequence;
  const prompt = document.getElementById("generate-prompt").value;
  const inputs = {
    prompt: [prompt],
    num_chars: [Number(document.getElementById("generate-length").value)],
    temperature: [Number(document.getElementById("generate-temperature").value)],
    seed: [Number(document.getElementById("generate-seed").value)],
  };
  const root = clear(document.getElementById("generate-results"));
  root.dataset.state = "running";
  try {
    const { outputs, ms } = await predict(MODEL, "serving_default", inputs);
    if (mine !== sequence) return;
    const continuation = outputs.text[0];
    const text = el("div", { class: "generated" });
    const characters = [...Array.from(prompt), ...Array.from(continuation)];
    const promptLength = Array.from(prompt).length;
    const withNext = await hasSignature(MODEL, "next_chars");
    const next = el("div", { class: "next" });
    characters.forEach((character, position) => {
      const span = el("span", { text: character, "data-position": position });
      if (position < promptLength) span.className = "prompt";
      if (withNext) {
        span.addEventListener("click", () => {
          for (const other of text.querySelectorAll(".chosen")) other.classList.remove("chosen");
          span.classList.add("chosen");
          showNext(characters.join(""), position, next);
        });
      }
      text.append(span);
    });
    root.append(
      el("p", { class: "time", text: `request ${formatMs(ms)}` }),
      text,
      el("p", {
        class: "note",
        text: withNext
          ? "Click a character: the model's top 5 for the character after it."
          : "This export has no next_chars signature: no top-5 view.",
      }),
      next,
    );
    root.dataset.continuation = continuation;
    root.dataset.state = "done";
  } catch (error) {
    clear(root).append(errorText(error));
    root.dataset.state = "error";
  }
}

export function setup() {
  document.getElementById("generate-form").addEventListener("submit", submit);
}

export function render() {}
