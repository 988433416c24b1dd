"""The class wall (``/class``) in Debian's headless Chromium driven by Playwright (no browser download).

A real gateway in front of a real upstream; the page is opened at a projector's 1024x768, a student makes
an image over HTTP, and the wall must show it (name, prompt, parameters, a loaded picture) within a few
polls; the teacher hides it and it leaves the wall. If Chromium cannot start, the test fails and says why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import ROOT, Server
from ..gateway.conftest import SENTINEL, Gateway, bearer, body

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
PROMPT = "a lighthouse on a cliff at dusk"
HOSTILE = "a second picture <img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    upstream = Server(["--require-key", SENTINEL])
    gw = None
    try:
        gw = Gateway(tmp_path / "class", ["--upstream", upstream.base_url])
        yield gw
    finally:
        if gw is not None:
            gw.stop()
        upstream.stop()


def test_wall_updates_after_a_student_generates(gateway: Gateway) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium (scripts/test installs it)"
        )
    from playwright.sync_api import sync_playwright

    token = gateway.add("Grace", images=3)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                      "--disable-background-networking", "--no-first-run"],
            )  # fmt: skip
        except Exception as exc:
            pytest.fail(f"Chromium did not start: {exc}")
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        try:
            page.goto(f"{gateway.root}/class?token={gateway.teacher_token()}", timeout=30_000)
            assert page.url == f"{gateway.root}/class"  # the token does not stay on the projected screen
            page.wait_for_selector("#empty:not([hidden])", timeout=10_000)

            made = httpx.post(
                f"{gateway.root}/v1/images/generations",
                json=body(77, prompt=PROMPT, width=512, height=384),
                headers=bearer(token),
                timeout=30,
            )
            assert made.status_code == 200, made.text
            card = page.locator("article.card").first
            card.wait_for(timeout=10_000)  # the next poll (every 2 s) brings it
            assert card.locator(".name").inner_text() == "Grace"
            assert card.locator(".prompt").inner_text() == PROMPT
            params = card.locator(".params").inner_text()
            assert "FLUX.2-dev" in params and "512x384" in params and "seed 77" in params
            lines = card.locator(".params .param").evaluate_all(
                "ps => ps.map(p => p.getClientRects().length)"
            )
            assert len(lines) >= 4 and set(lines) == {1}, lines  # "seed 77" never splits over two lines
            page.wait_for_function(
                "() => { const i = document.querySelector('article.card img');"
                " return i && i.naturalWidth > 0; }",
                timeout=10_000,
            )
            assert card.locator("img").evaluate("i => [i.naturalWidth, i.naturalHeight]") == [512, 384]
            # Readable on a projector: big thumbnails, a name in large type, three columns at 1024 px.
            box = card.locator("img").bounding_box()
            assert box is not None and box["height"] >= 200 and box["width"] >= 280
            size = card.locator(".name").evaluate("n => parseFloat(getComputedStyle(n).fontSize)")
            assert size >= 20
            columns = page.locator("#wall").evaluate(
                "w => getComputedStyle(w).gridTemplateColumns.split(' ').length"
            )
            assert columns == 3
            assert page.locator("#status").inner_text().startswith("1 shown · 1 student · updated")
            page.screenshot(path=str(ARTIFACTS / "class-wall.png"))

            # A second student image arrives on top; the teacher hides the first one.
            httpx.post(
                f"{gateway.root}/v1/images/generations",
                json=body(78, prompt=HOSTILE),
                headers=bearer(token),
                timeout=30,
            )
            page.locator("article.card .prompt", has_text="a second picture").wait_for(timeout=10_000)
            assert page.locator("article.card .prompt").first.inner_text() == HOSTILE  # text, not markup
            assert page.title() == "Class wall · together-magic"
            first = page.locator("article.card", has_text=PROMPT)
            first.get_by_role("button", name="hide").click()
            first.wait_for(state="detached", timeout=10_000)
            assert page.locator("article.card").count() == 1
            page.get_by_label("show hidden").check()
            page.locator("article.card.is-hidden", has_text=PROMPT).wait_for(timeout=10_000)

            page.get_by_role("button", name="Usage").click()
            row = page.locator("#usage-rows tr", has_text="Grace")
            row.wait_for(timeout=10_000)
            cells = row.locator("td").all_inner_texts()
            assert cells[:3] == ["Grace", "2 of 3", "$0.0308"] and cells[-1] == "active"
            assert page.locator("#wall").is_hidden()  # one view at a time on a small screen
        finally:
            page.screenshot(path=str(ARTIFACTS / "class-wall-end.png"))
            browser.close()
    hidden = httpx.get(
        f"{gateway.root}/class/api/wall", headers=bearer(gateway.teacher_token()), timeout=10
    ).json()["entries"]
    assert [e["prompt"] for e in hidden] == [HOSTILE]  # hidden for every viewer, not just this page


LONG_PROMPT = "W" * 400  # unbroken: no space to wrap at
LONG_NEGATIVE = "nothing" * 40


def test_long_unbroken_prompts_stay_inside_their_cards_at_1024x768(gateway: Gateway) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser test needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    token = gateway.add("Ada", images=3)
    for seed, prompt in ((81, LONG_PROMPT), (82, "a short one")):
        made = httpx.post(
            f"{gateway.root}/v1/images/generations",
            json=body(seed, prompt=prompt, negative_prompt=LONG_NEGATIVE),
            headers=bearer(token),
            timeout=30,
        )
        assert made.status_code == 200, made.text
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        try:
            page.goto(f"{gateway.root}/class?token={gateway.teacher_token()}", timeout=30_000)
            page.locator("article.card").nth(1).wait_for(timeout=10_000)
            overflow = page.evaluate(
                """() => [...document.querySelectorAll('article.card')].map(card => {
                    const box = card.getBoundingClientRect();
                    const parts = [...card.querySelectorAll('.prompt, .params, .negative, .name')];
                    const inside = parts.every(el => {
                        const r = el.getBoundingClientRect();
                        const within = r.left >= box.left - 1 && r.right <= box.right + 1;
                        return within && el.scrollWidth <= el.clientWidth + 1;
                    });
                    return {inside, right: box.right, width: box.width};
                })"""
            )
            assert len(overflow) == 2 and all(card["inside"] for card in overflow), overflow
            assert all(card["right"] <= 1024 for card in overflow), overflow
            widths = {round(card["width"]) for card in overflow}
            assert len(widths) == 1, widths  # the long card is as wide as its neighbour: one column each
            assert page.evaluate("document.documentElement.scrollWidth") <= 1024  # no sideways scrolling
            page.screenshot(path=str(ARTIFACTS / "class-wall-long-prompt.png"))
        finally:
            browser.close()
