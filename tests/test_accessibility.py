"""Accessibility of the built book, in the real browser: the checks axe-core cannot make
(keyboard use, formulas for screen readers).

axe-core's audit of every page (light theme, and the dark theme's contrast on a few pages) runs
in the one visit test_book_browser.py makes to each page (book_site.audit): a page fails on any
violation of impact "serious" or "critical", named with its rule, page and elements.
"""

from __future__ import annotations

import pytest
from book_site import chromium, require_built_book, serve, toc_docnames
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

PAGES = toc_docnames()


@pytest.fixture(scope="module")
def browser():
    require_built_book()
    with serve() as server, chromium() as driver:
        yield server, driver


def _open(browser, docname: str):
    server, driver = browser
    if driver.current_url != server.url(docname):  # the tests here read, never change, a page
        driver.get(server.url(docname))
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "(window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve())"
        ".then(() => done(true), () => done(true));")
    return driver


def test_keyboard_alone_reaches_the_skip_link_search_and_launch_buttons(browser):
    """Tab from the top of a chapter: the first stop is the skip link, focus is always visible,
    and the search box and the launch (Binder/Colab) button are reachable."""
    docname = next(p for p in PAGES if p.startswith("chapters/"))
    driver = _open(browser, docname)
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    reached, invisible = [], []
    for _ in range(60):
        info = driver.execute_script(
            "const e = document.activeElement; const s = getComputedStyle(e);"
            "return {text: (e.getAttribute('aria-label') || e.innerText || e.value || e.title || '').trim(),"
            " tag: e.tagName, cls: e.className || '', href: e.getAttribute('href') || '',"
            " outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,"
            " shadow: s.boxShadow !== 'none'};")
        reached.append(info)
        if not (info["outline"] or info["shadow"]):
            invisible.append(f"{info['tag']} {info['text'][:40]!r}")
        driver.switch_to.active_element.send_keys(Keys.TAB)
    assert "skip" in reached[0]["text"].lower() or reached[0]["href"].startswith("#"), (
        f"the first Tab stop is not a skip link: {reached[0]}")
    texts = " | ".join(f"{r['text']} {r['cls']}" for r in reached).lower()
    assert "search" in texts, f"no search control among the first 60 Tab stops: {texts[:800]}"
    assert "launch" in texts, f"no launch button among the first 60 Tab stops: {texts[:800]}"
    assert not invisible, f"Tab stops without a visible focus indicator: {invisible}"


def test_formulas_are_read_by_screen_readers(browser):
    """MathJax's assistive MathML: every typeset formula carries a MathML copy for screen readers."""
    docname = next(p for p in PAGES if p.startswith("chapters/"))
    driver = _open(browser, docname)
    counts = driver.execute_script(
        "return [document.querySelectorAll('mjx-container').length,"
        " document.querySelectorAll('mjx-container mjx-assistive-mml math').length];")
    assert counts[0] > 0, f"{docname} has no typeset formula"
    assert counts[1] == counts[0], f"{counts[0] - counts[1]} of {counts[0]} formulas have no assistive MathML"

