"""`trials serve` in a real browser: headless Chromium from Debian's `chromium` package,
driven by Playwright (pointed at the system browser; nothing downloaded).  Type a query, click
a facet, open a trial, follow "related", and check each trial page against its JSON twin.

Skips, saying why, where /usr/bin/chromium (or Playwright) is absent.  With
TRIALS_SCREENSHOTS=DIR it saves the search and trial pages as PNGs there (docs/ uses them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.serve_helpers import build_home, running_server

CHROMIUM = Path(os.environ.get("TRIALS_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip(f"no headless browser: {CHROMIUM} is absent (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


def check_trial_page(page, base: str) -> dict:  # type: ignore[no-untyped-def]
    """The trial page shows what its JSON twin carries."""
    tid = page.locator("#trial-id").inner_text()
    twin = page.request.get(f"{base}/trial/{tid}.json")
    assert twin.ok
    data = twin.json()
    assert data["trial_id"] == tid
    assert page.locator("#trial-title").inner_text() == (data["title"] or "(no title)")
    assert page.locator("#trial-status").inner_text().startswith(data["status"])
    if data.get("url"):
        assert page.locator("#registry-link").get_attribute("href") == data["url"]
    return data


def test_search_facet_trial_related_in_a_browser(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = build_home(tmp_path / "home", hostile=False)
    shots = os.environ.get("TRIALS_SCREENSHOTS")
    with running_server(home) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(f"{base}/search")
        page.get_by_label("Query").fill("refractory myasthenia gravis CAR-T")
        page.keyboard.press("Enter")
        page.wait_for_url("**/search?q=*")
        total = int(page.locator("#result-count").inner_text())
        assert total > 0
        assert page.locator("p.snippet mark").count() > 0
        if shots:
            page.screenshot(path=str(Path(shots) / "serve-search.png"), full_page=False)

        facet = page.locator("aside.facets a[href*='status=']").first
        expected = int(facet.locator("xpath=following-sibling::span[1]").inner_text()
                       .strip("()"))
        facet.click()
        page.wait_for_url("**status=*")
        assert int(page.locator("#result-count").inner_text()) == expected <= total
        assert page.locator("aside.facets a.active").count() >= 1

        page.locator("a.trial-link").first.click()
        page.wait_for_url("**/trial/*")
        first = check_trial_page(page, base)

        related = page.locator("a.related-link").first
        related_id = related.inner_text()
        related.click()
        page.wait_for_url(f"**/trial/{related_id}")
        second = check_trial_page(page, base)
        assert second["trial_id"] == related_id != first["trial_id"]

        # keyboard alone: Tab reaches the query box, Enter searches
        page.goto(f"{base}/search")
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.id") == "q":
                break
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("efgartigimod")
        page.keyboard.press("Enter")
        page.wait_for_url("**q=efgartigimod*")
        assert int(page.locator("#result-count").inner_text()) > 0
        # 400% zoom of a 1280 px window is a 320 px viewport: nothing scrolls sideways
        narrow = browser.new_context(viewport={"width": 320, "height": 640})
        small = narrow.new_page()
        for url in ("/search?q=myasthenia+gravis+CAR-T", "/trial/NCT06958939", "/changes"):
            small.goto(base + url)
            wide = small.evaluate("document.documentElement.scrollWidth")
            assert wide <= 320, f"{url} is {wide} px wide at 320 px"
        narrow.close()
        if shots:  # the reference trial, for the README
            page.goto(f"{base}/trial/NCT06958939")
            page.screenshot(path=str(Path(shots) / "serve-trial.png"), full_page=False)
        context.close()
