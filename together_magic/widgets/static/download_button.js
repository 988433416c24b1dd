// A card's "Download" (an anywidget view): an <a download> whose blob URL is made from the image bytes the
// kernel sends on the first click, so the image lands on the user's own computer. Shipped in the package.

function render({ model, el }) {
  const link = document.createElement("a");
  link.className = "jupyter-widgets jupyter-button widget-button together-magic-download";
  link.setAttribute("role", "button");
  link.href = "#";
  let url = "";
  const draw = () => {
    link.textContent = "";
    const glyph = document.createElement("i");
    glyph.className = "fa fa-download";
    link.appendChild(glyph);
    const span = document.createElement("span");
    span.className = "together-magic-label";
    span.textContent = model.get("description");
    link.appendChild(span);
    link.title = model.get("tooltip") || model.get("description");
    link.setAttribute("aria-label", model.get("description"));
    link.download = model.get("filename");
  };
  draw();
  const names = ["description", "tooltip", "filename"];
  for (const name of names) model.on(`change:${name}`, draw);
  const onMessage = (content, buffers) => {
    if (!content || content.event !== "bytes" || !buffers || !buffers.length) return;
    const blob = new Blob([buffers[0]], { type: model.get("mime") });
    url = URL.createObjectURL(blob);
    link.href = url;
    link.click();
  };
  model.on("msg:custom", onMessage);
  link.addEventListener("click", (event) => {
    if (url) return; // the blob is here: the browser downloads it
    event.preventDefault();
    model.send({ event: "want" });
  });
  el.appendChild(link);
  return () => {
    for (const name of names) model.off(`change:${name}`, draw);
    model.off("msg:custom", onMessage);
    if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
