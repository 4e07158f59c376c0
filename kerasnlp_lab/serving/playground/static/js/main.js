// The playground's entry: tabs (also reachable as #translate, #generate, #autoencoder, #server).
import * as autoencoder from "./autoencoder.js";
import * as generate from "./generate.js";
import * as server from "./server.js";
import * as translate from "./translate.js";

const PANELS = { translate, generate, autoencoder, server };

function show(name) {
  if (!(name in PANELS)) name = "translate";
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.panel === name;
    tab.setAttribute("aria-selected", String(selected));
    document.getElementById(`panel-${tab.dataset.panel}`).hidden = !selected;
  }
  PANELS[name].render();
}

for (const panel of Object.values(PANELS)) panel.setup();
for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => {
    history.replaceState(null, "", `#${tab.dataset.panel}`);
    show(tab.dataset.panel);
  });
}
window.addEventListener("hashchange", () => show(location.hash.slice(1)));
show(location.hash.slice(1));
document.body.dataset.readyMs = performance.now().toFixed(1);
document.body.dataset.ready = "true";
