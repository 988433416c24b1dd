// The panel's "copy as code" button (an anywidget view). It copies inside the click itself, so browsers
// that only allow the clipboard during a user gesture (Safari, Firefox) still accept it, then tells Python
// what happened. With `insert`, it also adds the code as a new cell below the panel's cell, where the
// front end's widget manager gives access to the notebook (JupyterLab 4, Notebook 7). Nothing is loaded
// from the network: this file ships inside the package.

function legacyCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (err) {
    ok = false;
  }
  area.remove();
  return ok;
}

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).then(
      () => true,
      () => legacyCopy(text),
    );
  }
  return Promise.resolve(legacyCopy(text));
}

function panelCellIndex(cells, anchor) {
  for (let i = 0; i < cells.length; i++) {
    const outputs = cells.get(i).outputs;
    if (!outputs) continue;
    for (let j = 0; j < outputs.length; j++) {
      const data = outputs.get(j).data || {};
      const view = data["application/vnd.jupyter.widget-view+json"];
      if (view && view.model_id === anchor) return i;
    }
  }
  return -1;
}

function insertBelow(model, text) {
  const manager = model.widget_manager;
  const context = manager && manager.context;
  const notebook = context && context.model;
  if (!notebook || !notebook.sharedModel || !notebook.cells) {
    return "this front end does not let widgets add cells";
  }
  const index = panelCellIndex(notebook.cells, model.get("anchor"));
  if (index < 0) return "the panel's cell was not found in this notebook";
  notebook.sharedModel.insertCell(index + 1, { cell_type: "code", source: text, metadata: {} });
  return "";
}

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button together-magic-copy";
  const draw = () => {
    button.textContent = "";
    const icon = model.get("icon");
    if (icon) {
      const glyph = document.createElement("i");
      glyph.className = `fa fa-${icon}`;
      button.appendChild(glyph);
    }
    const label = model.get("description");
    if (label) {
      const span = document.createElement("span");
      span.className = "together-magic-label";
      span.textContent = label;
      button.appendChild(span);
    }
    button.title = model.get("tooltip") || label;
    button.setAttribute("aria-label", label);
    button.disabled = !model.get("text");
  };
  draw();
  for (const name of ["description", "icon", "tooltip", "text"]) model.on(`change:${name}`, draw);
  button.addEventListener("click", async () => {
    const text = model.get("text");
    const copied = await copyText(text);
    let inserted = null;
    let reason = "";
    if (model.get("insert")) {
      try {
        reason = insertBelow(model, text);
      } catch (err) {
        reason = String(err);
      }
      inserted = reason === "";
    }
    model.send({ event: "copied", copied, inserted, reason });
  });
  el.appendChild(button);
  return () => {
    for (const name of ["description", "icon", "tooltip", "text"]) model.off(`change:${name}`, draw);
  };
}

export default { render };
