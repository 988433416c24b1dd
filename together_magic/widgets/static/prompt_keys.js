// Enter (or Ctrl/Cmd+Enter) in the panel's prompt box presses Generate; Shift+Enter makes a new line. An
// invisible anywidget view listens on the window before JupyterLab's shortcuts and ipywidgets' own handlers,
// and only for the prompt box of its own panel. Shipped in the package: nothing comes from the network.

function render({ model, el }) {
  const onKey = (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.altKey || event.isComposing) return;
    const panel = el.isConnected ? el.closest(".together-magic-panel") : null;
    const target = event.target;
    if (!panel || !(target instanceof Element) || !panel.contains(target)) return;
    if (!target.closest(".together-magic-prompt") || target.closest(".together-magic-panel") !== panel) return;
    event.preventDefault();
    event.stopPropagation();
    // the box's text was sent on each keystroke (continuous_update); this message follows it
    model.send({ event: "submit" });
  };
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}

export default { render };
