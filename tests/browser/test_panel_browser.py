"""A newcomer and a teacher in a real JupyterLab 4, in Debian's headless Chromium driven by Playwright.

JupyterLab is started by ``scripts/lab.py``, exactly as README command (1) (``scripts/start``) leaves it,
on a copy of ``notebooks/`` (a fresh clone's files). Nothing downloads a browser: Playwright drives
``/usr/bin/chromium``. If Chromium, JupyterLab or Notebook cannot start, the tests fail and say why: they
never skip quietly. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import ROOT
from ..kernel import loaded_kernel
from .support import (
    ARTIFACTS,
    HASH_CELL,
    PANEL_CELL,
    PROMPT,
    Server,
    browser,
    dismiss_dialogs,
    dropdown,
    generate,
    jupyter_env,
    newest_card,
    no_stderr,
    open_notebook,
    run_all,
    run_first_cell,
    stop,
    write_notebook,
)

__all__ = ["browser"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """JupyterLab as ``scripts/start --no-browser`` leaves it, on a copy of the repository's notebooks."""
    home = tmp_path_factory.mktemp("lab")
    folder = home / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("images", "references"))
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "jupyterlab.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "lab.py"), "--no-browser", "--dir", str(folder)],
        env=jupyter_env(home, quiet_news=False),  # as a teacher's first start: no settings yet
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    url = printed = None
    assert process.stdout is not None
    for raw in process.stdout:  # the script prints the URL with its token once JupyterLab answers
        line = raw.decode()
        found = re.search(r"open:\s+(http://127\.0\.0\.1:\d+/lab/tree/01-quickstart\.ipynb\?token=\w+)", line)
        if found:
            url, printed = found.group(1), line.split("open:", 1)[1].strip()
            break
    if url is None:
        stop(process)
        process.stdout.close()
        log.close()  # closed before failing: a leaked handle would fail an unrelated test later
        pytest.fail(f"scripts/lab.py printed no URL; see {ARTIFACTS / 'jupyterlab.log'}")
    try:
        yield Server(url, folder, process, started, printed or "")
    finally:
        stop(process)
        process.stdout.close()
        log.close()


def test_quickstart_runs_with_run_all(lab: Server, browser: Any) -> None:
    """(a) A newcomer's first minute: command (1)'s JupyterLab, Run All on 01-quickstart, no red anywhere."""
    page = open_notebook(browser, lab.url, (1400, 1000))
    page.wait_for_selector(".jp-StatusBar-Widget:has-text('| Idle')", timeout=90_000)
    run_all(page)
    page.wait_for_function(
        "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
        " return p.length > 5 && p.every(x => /\\[\\d+\\]/.test(x.textContent)); }",
        timeout=120_000,
    )
    no_stderr(page)
    assert page.locator(".jp-OutputArea-output img").count() >= 7  # fox, fox again, four, city, fox
    assert page.get_by_text("notified about official Jupyter news").count() == 0  # no popup over it
    page.locator(".jp-Cell").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "quickstart-jupyterlab.png"))
    seconds = time.perf_counter() - lab.started
    print(f"\nquickstart: from scripts/lab.py start to Run All done in {seconds:.1f} s")


def test_copy_as_code_reproduces_the_image_byte_for_byte(lab: Server, browser: Any, tmp_path: Path) -> None:
    """(c) copy as code -> clipboard -> a fresh kernel makes the same bytes, reference image included."""
    write_notebook(lab.folder / "panel.ipynb", [PANEL_CELL, HASH_CELL])
    page = open_notebook(
        browser,
        lab.page_url("/lab/tree/panel.ipynb"),
        (1280, 1000),
        permissions=["clipboard-read", "clipboard-write"],
    )
    panel = run_first_cell(page, lab, "panel.ipynb")
    panel.locator("textarea").first.fill(PROMPT)
    generate(page, panel, 1, 0)
    panel.locator(".together-magic-card").first.get_by_role("button", name="Use as reference").click()
    dropdown(panel, "Model").select_option(label="FLUX.1 Kontext [pro] · Black Forest Labs")
    panel.locator("textarea").first.fill("the same fox at night")
    generate(page, panel, 1, 1)
    newest_card(panel).locator(".together-magic-copy").click()
    page.wait_for_function(
        "() => document.querySelector('.together-magic-status').textContent.includes('copied the cell')",
        timeout=10_000,
    )
    code = page.evaluate("navigator.clipboard.readText()")
    head, body = code.split("\n", 1)
    assert head.startswith("%%imagine --model black-forest-labs/FLUX.1-kontext-pro --n 1 --seed ")
    assert body == "the same fox at night" and "--image references/reference-" in head
    reference = head.split("--image ", 1)[1].split()[0]
    assert (lab.folder / reference).is_file()  # written next to the notebook when the code was copied
    # insert as cell below (the viewer's button): the same code lands in the notebook itself
    newest_card(panel).locator(".together-magic-hit").click()
    panel.get_by_role("button", name="Insert as cell below").click()
    page.wait_for_function(
        "code => [...document.querySelectorAll('.jp-Cell .cm-content')]"
        ".some(c => c.innerText.startsWith(code))",
        arg=head,
        timeout=10_000,
    )
    page.locator(".jp-Cell .cm-content", has_text="hashlib").click()
    page.keyboard.press("Shift+Enter")
    printed = page.locator(".jp-OutputArea-output", has_text="sha256=")
    printed.wait_for(timeout=30_000)
    in_lab = re.search(r"sha256=([0-9a-f]{64})", printed.inner_text())
    assert in_lab is not None
    no_stderr(page)
    page.screenshot(path=str(ARTIFACTS / "copy-as-code.png"))
    fresh = loaded_kernel(tmp_path)  # its own empty cache: the image is generated again, not found
    try:
        fresh.ok(f"import os, hashlib\nos.chdir({str(lab.folder)!r})")
        made = fresh.run(code)
        assert made.status == "ok" and not made.of_type("error"), made.outputs
        again = fresh.ok(
            "print(hashlib.sha256(_.data[0].image_bytes()).hexdigest(),"
            " _o.shared_backend().stats['requests'])"
        ).text.split()
    finally:
        fresh.stop()
    assert again == [in_lab.group(1), "1"]


def test_projector_1024x768_saved_and_dark(lab: Server, browser: Any) -> None:
    """(d) A teacher's projector: after 4 images the latest cards, captions included, are on screen without
    scrolling, in a notebook that goes on below the panel (its scrollbar narrows the output to 577 px)."""
    began = time.perf_counter()
    write_notebook(lab.folder / "projector.ipynb", [PANEL_CELL, *LESSON])
    page = open_notebook(browser, lab.page_url("/lab/tree/projector.ipynb"), (1024, 768))
    panel = run_first_cell(page, lab, "projector.ipynb")
    panel.locator("textarea").first.fill(LONG_PROMPT)
    generate(page, panel, 4, 0)
    assert page.evaluate(SCROLLS)  # the notebook is longer than the screen, as a lesson is
    columns = panel.locator(".widget-gridbox").first.evaluate("g => getComputedStyle(g).gridTemplateColumns")
    assert len(columns.split()) == 2, columns  # the form keeps two columns, so the results stay in view
    # Generate and the newest card (the first shown), caption and labelled buttons included, are on screen
    # (issue 24: with 14 px text labels four cards no longer fit beside the form; the newest one does)
    boxes = [newest_card(panel).bounding_box(), panel.get_by_role("button", name="Generate").bounding_box()]
    for box in boxes:
        assert box is not None and box["width"] > 60
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768, boxes
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1024, boxes
    assert page.evaluate(CLIPPED_CAPTIONS) == []  # a long prompt ellipsizes; every fact stays in its card
    scrolled = page.evaluate(
        "() => [...document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')]"
        ".map(e => e.scrollTop).reduce((a, b) => a + b, 0)"
    )
    assert scrolled == 0  # nobody scrolled: the panel fits
    overflow = page.evaluate(
        "() => { const out = document.querySelector('.together-magic-panel')"
        ".closest('.jp-OutputArea-output'); const right = out.getBoundingClientRect().right;"
        " return [...out.querySelectorAll('input, textarea, select, button')]"
        ".filter(e => e.offsetParent && e.getBoundingClientRect().right > right + 0.5).length; }"
    )
    assert overflow == 0  # no text field sticks out of the output area
    page.screenshot(path=str(ARTIFACTS / "panel-1024x768.png"))
    print(f"\nprojector: 4 images shown at {time.perf_counter() - began:.1f} s")
    generate(page, panel, 1, 4)  # a second generation, then the notebook is saved
    page.wait_for_function(  # the static copy (hidden while the panel is live) has caught up
        "() => document.querySelectorAll('.together-magic-snapshot img').length === 5", timeout=10_000
    )
    page.keyboard.press("Control+s")
    saved = lab.folder / "projector.ipynb"
    deadline = time.monotonic() + 20
    while True:
        book = json.loads(saved.read_text())
        html_outputs = [
            "".join(o["data"]["text/html"])
            if isinstance(o["data"]["text/html"], list)
            else o["data"]["text/html"]
            for cell in book["cells"]
            for o in cell.get("outputs", [])
            if "text/html" in o.get("data", {})
        ]
        snapshot = [h for h in html_outputs if "together-magic-snapshot" in h]
        if (snapshot and snapshot[0].count("<img ") == 5) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert snapshot and snapshot[0].count("<img ") == 5  # both generations, in the file itself
    print(f"projector: saved at {time.perf_counter() - began:.1f} s")
    dismiss_dialogs(page)
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^JupyterLab Dark$")).click()
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=10_000)
    contrast = page.evaluate(CONTRAST)
    assert min(contrast.values()) >= 4.5, contrast
    page.screenshot(path=str(ARTIFACTS / "panel-dark.png"))


def test_compare_row_and_history_at_1024x768(lab: Server, browser: Any) -> None:
    """(e) Compare five step counts on a projector: the grid is on screen without scrolling the page (its
    row scrolls sideways); then ``%imagine_history`` shows the same images as cards below."""
    # the lab's store also holds the other tests' images: the history asks for this test's prompt
    write_notebook(lab.folder / "compare.ipynb", [PANEL_CELL, "%imagine_history owl compared --last 8"])
    page = open_notebook(browser, lab.page_url("/lab/tree/compare.ipynb"), (1024, 768))
    panel = run_first_cell(page, lab, "compare.ipynb")
    panel.locator("textarea").first.fill("an owl compared at five step counts")
    panel.locator(".together-magic-axis select").select_option(value="steps")
    panel.locator(".together-magic-values input").fill("1,2,4,8,12")
    panel.get_by_role("button", name="Compare").click()
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('.together-magic-sweep-entry img')];"
        " return imgs.length === 5 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=60_000,
    )
    # the last image can load a moment before the status line says so: wait for the line, then read it
    panel.locator(".together-magic-status", has_text="done: 5 cells").wait_for(timeout=30_000)
    status = panel.locator(".together-magic-status").inner_text()
    assert status.startswith("done: 5 cells (steps): 5 done"), status
    labels = panel.locator(".together-magic-cell-label").all_inner_texts()
    assert labels == ["steps=1", "steps=2", "steps=4", "steps=8", "steps=12"]
    entry = panel.locator(".together-magic-sweep-entry").bounding_box()
    gallery = panel.locator(".together-magic-gallery").bounding_box()
    assert entry is not None and gallery is not None and entry["width"] >= gallery["width"] - 1  # spans it
    cells = [panel.locator(".together-magic-cell").nth(i).bounding_box() for i in range(4)]
    for box in cells:  # four whole cells (label, image, caption, buttons) on screen, side by side
        assert box is not None and box["width"] > 100
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768, cells
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1024, cells
    assert len({round(box["y"]) for box in cells if box}) == 1
    scrolled = page.evaluate(
        "() => [...document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook')]"
        ".map(e => e.scrollTop).reduce((a, b) => a + b, 0)"
    )
    assert scrolled == 0  # nobody scrolled the page: the grid is on screen
    rows = page.evaluate(
        "() => { const r = document.querySelector('.together-magic-sweep-rows');"
        " const out = r.closest('.jp-OutputArea-output').getBoundingClientRect();"
        " return [r.scrollWidth > r.clientWidth, r.getBoundingClientRect().right <= out.right + 0.5]; }"
    )
    assert rows == [True, True]  # the row scrolls sideways inside the output, never past it
    page.screenshot(path=str(ARTIFACTS / "compare-1024x768.png"))
    page.locator(".jp-Cell .cm-content", has_text="imagine_history").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll("
        "'.together-magic-history .together-magic-card img')];"
        " return imgs.length === 5 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=30_000,
    )
    snapshots = page.locator(".together-magic-snapshot")
    assert snapshots.count() == 2 and not snapshots.first.is_visible() and not snapshots.last.is_visible()
    no_stderr(page)
    page.locator(".together-magic-history").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "history-1024x768.png"))


def test_every_kind_of_form_fits_in_two_columns_at_1024x768(lab: Server, browser: Any) -> None:
    """(f) At 1024x768 in a lesson notebook, the models with the most controls (an image to edit and
    aspect ratios, a reference and LoRAs, presets) keep every row of both columns inside them."""
    write_notebook(lab.folder / "forms.ipynb", [PANEL_CELL, *LESSON])
    page = open_notebook(browser, lab.page_url("/lab/tree/forms.ipynb"), (1024, 768))
    panel = run_first_cell(page, lab, "forms.ipynb")
    panel.locator("textarea").first.fill(LONG_PROMPT)
    generate(page, panel, 1, 0)
    panel.locator(".together-magic-card").first.get_by_role("button", name="Use as reference").click()
    panel.locator(".together-magic-status", has_text="is the reference now").wait_for(timeout=10_000)
    for model in HEAVY_FORMS:
        price = page.evaluate(PRICE)
        dropdown(panel, "Model").select_option(label=model)
        page.wait_for_function(f"p => ({PRICE})() !== p", arg=price)  # the kernel has shown its controls
        page.wait_for_timeout(200)
        assert page.evaluate(OVERFLOWING_ROWS) == [], model
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "panel-form-reference-1024x768.png"))
    no_stderr(page)


def test_the_viewer_opens_where_you_click(lab: Server, browser: Any) -> None:
    """(g) A card far down a long gallery opens in view: the enlarged view covers the notebook's visible
    area, not the panel's top, out of sight above."""
    write_notebook(lab.folder / "viewer.ipynb", [PANEL_CELL, *LESSON])
    page = open_notebook(browser, lab.page_url("/lab/tree/viewer.ipynb"), (1024, 768))
    panel = run_first_cell(page, lab, "viewer.ipynb")
    panel.locator("textarea").first.fill(LONG_PROMPT)
    for made in (0, 4, 8):
        generate(page, panel, 4, made)
    oldest = panel.locator(".together-magic-gallery .together-magic-card").first  # shown last
    oldest.scroll_into_view_if_needed()
    oldest.locator(".together-magic-hit").click()
    viewer = panel.locator(".together-magic-viewer")
    viewer.locator("img").wait_for(state="visible", timeout=10_000)
    image = viewer.locator("img").bounding_box()
    close = viewer.get_by_role("button", name="close").bounding_box()
    for box in (image, close):
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768, (image, close)
    page.screenshot(path=str(ARTIFACTS / "viewer-1024x768.png"))
    viewer.get_by_role("button", name="close").click()
    viewer.wait_for(state="hidden", timeout=10_000)
    no_stderr(page)


LESSON = [f"# step {k}: what the class tries next\nprint({k})" for k in range(12)]
"""Cells after the panel, as in a lesson (03-panel): the notebook scrolls, and its scrollbar takes width."""
LONG_PROMPT = "a red fox in a snowy forest at dawn, watercolour, soft morning light"
SCROLLS = "() => { const s = document.querySelector('.jp-WindowedPanel-outer');"
SCROLLS += " return s.scrollHeight > s.clientHeight; }"
HEAVY_FORMS = [  # an image to edit and aspect ratios; presets; a reference, steps and guidance; a negative
    # (in an order where the price line changes at each step: priced, unpublished, priced, unpublished)
    "FLUX.1 Kontext [pro] · Black Forest Labs",
    "Gemini 3 Pro Image (Nano Banana Pro) · Google",
    "FLUX.2 [dev] · Black Forest Labs",
    "FLUX1.1 [pro] · Black Forest Labs",
]
PRICE = "() => [...document.querySelectorAll('.together-magic-panel .widget-html')]"
PRICE += ".map(e => e.innerText).find(t => t.includes('≈ $') || t.includes('price unknown'))"
CLIPPED_CAPTIONS = """() => [...document.querySelectorAll('.together-magic-card')].flatMap(card => {
  const edge = card.getBoundingClientRect().right;
  return [...card.querySelectorAll('.together-magic-caption span, .together-magic-caption div')]
    .filter(e => e.getBoundingClientRect().right > edge - 1).map(e => e.textContent); })"""
OVERFLOWING_ROWS = """() => {
  const form = document.querySelector('.together-magic-panel > .widget-gridbox');
  const right = form.closest('.jp-OutputArea-output').getBoundingClientRect().right;
  const rows = [...form.querySelectorAll('.widget-box, .widget-inline-hbox')].filter(e => e.offsetParent);
  return rows.filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > right + 0.5)
    .map(e => `${e.innerText.trim().split('\\n')[0]}: ${e.scrollWidth} > ${e.clientWidth}`); }"""

CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).slice(0, 4).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126*r + 0.7152*g + 0.0722*b; };
  const back = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c; } return [255, 255, 255]; };
  const ratio = e => { const a = lum(rgb(getComputedStyle(e).color)), b = lum(back(e));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const pick = s => document.querySelector('.together-magic-panel ' + s);
  const out = {};
  for (const s of ['.together-magic-caption', '.widget-label', '.together-magic-status', 'input', 'select'])
    { const e = pick(s); if (e) out[s] = ratio(e); }
  return out;
}"""
