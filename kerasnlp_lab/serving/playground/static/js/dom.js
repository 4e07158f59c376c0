// DOM helpers: every text from a model or a user goes in through textContent, never as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-") || name === "title" || name === "role" || name === "id") {
      node.setAttribute(name, String(value));
    } else node[name] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function errorText(error) {
  return el("p", { class: "error", text: `Error: ${error.message || error}` });
}

export function formatMs(ms) {
  return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}
