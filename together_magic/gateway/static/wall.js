// The class wall: polls /class/api/wall every two seconds and keeps one card per answer.
// Cards are kept by id, so an image is loaded once; every text is set with textContent (never as HTML).
"use strict";
(() => {
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const wall = $("wall");
  const cards = new Map();
  let showHidden = false;
  let busy = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // One span per fact, kept on one line ("seed 8" never splits as "seed" / "8"); the facts wrap between
  // them. A negative prompt is free text and may wrap inside.
  function params(p) {
    const parts = [String(p.model || "").split("/").pop(), `${p.width}x${p.height}`, `seed ${p.seed}`];
    if (p.steps !== undefined) parts.push(`${p.steps} steps`);
    if (p.guidance_scale !== undefined) parts.push(`guidance ${p.guidance_scale}`);
    if (p.aspect_ratio !== undefined) parts.push(`aspect ${p.aspect_ratio}`);
    if (p.n > 1) parts.push(`n ${p.n}`);
    const node = el("div", "params");
    parts.forEach((part, i) => {
      if (i) node.append(" · ");
      node.append(el("span", "param", part));
    });
    if (p.negative_prompt) node.append(" · ", el("span", "negative", `not: ${p.negative_prompt}`));
    return node;
  }

  async function setHidden(id, hidden) {
    await fetch("/class/api/hide", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id, hidden }),
    });
    refresh();
  }

  function card(entry) {
    const node = el("article", "card" + (entry.hidden ? " is-hidden" : ""));
    node.dataset.id = String(entry.id);
    node.dataset.state = `${entry.hidden}`;
    const images = el("div", "images");
    for (let i = 0; i < entry.images; i++) {
      const img = el("img");
      img.src = `/class/image/${entry.id}/${i}`;
      img.alt = entry.prompt;
      images.append(img);
    }
    const who = el("div", "who");
    who.append(el("span", "name", entry.student));
    if (entry.how === "cached") who.append(el("span", "badge cached", "cached"));
    if (entry.backend === "offline") who.append(el("span", "badge offline", "offline"));
    const button = el("button", "hide", entry.hidden ? "show" : "hide");
    button.type = "button";
    button.addEventListener("click", () => setHidden(entry.id, !entry.hidden));
    who.append(button);
    node.append(images, who, el("div", "prompt", entry.prompt), params(entry.params));
    return node;
  }

  function renderWall(entries) {
    const keep = new Set();
    let previous = null;
    for (const entry of entries) {
      let node = cards.get(entry.id);
      if (!node || node.dataset.state !== `${entry.hidden}`) {
        if (node) node.remove();
        node = card(entry);
        cards.set(entry.id, node);
      }
      keep.add(entry.id);
      const want = previous ? previous.nextSibling : wall.firstChild;
      if (want !== node) wall.insertBefore(node, want);
      previous = node;
    }
    for (const [id, node] of cards) {
      if (!keep.has(id)) {
        node.remove();
        cards.delete(id);
      }
    }
    $("empty").hidden = entries.length > 0 || !$("usage").hidden;
  }

  function money(dollars) {
    // As the CLI prints it: $5.00, $0.02, $0.000169 (never rounded to a misleading $0.0000).
    const [whole, fraction = ""] = dollars.toFixed(6).replace(/0+$/, "").split(".");
    return `$${whole}.${fraction.padEnd(2, "0")}`;
  }

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "never";
  }

  function renderUsage(students) {
    const rows = $("usage-rows");
    rows.replaceChildren();
    for (const s of students) {
      const tr = el("tr", s.status);
      const images = s.images_limit === null ? `${s.images_used}` : `${s.images_used} of ${s.images_limit}`;
      const dollars = s.budget === null ? money(s.dollars_used)
        : `${money(s.dollars_used)} of ${money(s.budget)}`;
      const cells = [s.name, images, dollars, s.cached, s.offline, s.refused, when(s.last_seen), s.status];
      cells.forEach((value, i) => tr.append(el("td", i >= 1 && i <= 5 ? "num" : "", String(value))));
      rows.append(tr);
    }
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const answer = await fetch(`/class/api/wall?hidden=${showHidden ? 1 : 0}`, {
        credentials: "same-origin", cache: "no-store",
      });
      if (answer.status === 401) {
        $("status").textContent = "teacher token needed: open the /class?token=… address again";
        return;
      }
      const data = await answer.json();
      renderWall(data.entries);
      renderUsage(data.usage);
      const people = data.usage.length === 1 ? "1 student" : `${data.usage.length} students`;
      $("status").textContent = `${data.entries.length} shown · ${people} · ` +
        `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      $("status").textContent = "the gateway is not answering; retrying…";
    } finally {
      busy = false;
    }
  }

  function tab(showUsage) {
    $("usage").hidden = !showUsage;
    wall.hidden = showUsage;
    $("show-usage").setAttribute("aria-pressed", `${showUsage}`);
    $("show-wall").setAttribute("aria-pressed", `${!showUsage}`);
    $("empty").hidden = showUsage || cards.size > 0;
  }

  $("show-wall").addEventListener("click", () => tab(false));
  $("show-usage").addEventListener("click", () => tab(true));
  $("show-hidden").addEventListener("change", (event) => {
    showHidden = event.target.checked;
    refresh();
  });
  refresh();
  setInterval(refresh, POLL_MS);
})();
