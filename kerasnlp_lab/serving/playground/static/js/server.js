// The Server panel: each model's versions and states (status API) and signatures (metadata API).
import { MODELS, forgetMetadata, metadata, status } from "./api.js";
import { clear, el } from "./dom.js";

function shapeText(tensor) {
  if (tensor.shape === null) return `${tensor.dtype} [unknown rank]`;
  return `${tensor.dtype} [${tensor.shape.join(", ")}]`;
}

function tensorList(tensors) {
  return el(
    "ul",
    {},
    ...Object.entries(tensors).map(([name, tensor]) =>
      el("li", {}, el("code", { text: name }), ` ${shapeText(tensor)}`),
    ),
  );
}

async function modelCard(model) {
  const card = el("div", { class: "card server-model", "data-model": model });
  card.append(el("h3", { text: model }));
  let versions;
  try {
    versions = (await status(model)).model_version_status || [];
  } catch (error) {
    card.append(el("p", { class: "error", text: `not served here (${error.message})` }));
    return card;
  }
  const table = el("table", { class: "versions" });
  table.append(el("tr", {}, el("th", { text: "version" }), el("th", { text: "state" })));
  for (const entry of versions) {
    const row = el("tr", { "data-version": entry.version });
    row.append(el("td", { text: entry.version }));
    row.append(el("td", { class: `state state-${entry.state}`, text: entry.state }));
    table.append(row);
  }
  card.append(table);
  try {
    const { version, signatures } = await metadata(model);
    const rows = el("table", { class: "signatures" });
    rows.append(
      el(
        "tr",
        {},
        el("th", { text: "signature" }),
        el("th", { text: "inputs" }),
        el("th", { text: "outputs" }),
      ),
    );
    for (const name of Object.keys(signatures).sort()) {
      const signature = signatures[name];
      rows.append(
        el(
          "tr",
          { "data-signature": name },
          el("td", {}, el("code", { text: name })),
          el("td", {}, tensorList(signature.inputs)),
          el("td", {}, tensorList(signature.outputs)),
        ),
      );
    }
    card.append(el("p", { class: "note", text: `signatures of version ${version}` }), rows);
  } catch (error) {
    card.append(el("p", { class: "error", text: `metadata: ${error.message}` }));
  }
  return card;
}

export async function render() {
  const root = document.getElementById("server-models");
  root.setAttribute("aria-busy", "true");
  forgetMetadata();
  const cards = await Promise.all(MODELS.map(modelCard));
  clear(root).append(...cards);
  root.setAttribute("aria-busy", "false");
  root.dataset.loaded = "true";
}

export function setup() {
  document.getElementById("server-refresh").addEventListener("click", () => render());
}
