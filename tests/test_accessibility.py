"""Accessibility of the built book, in the real browser: axe-core on every page, and the checks
axe cannot make (keyboard use, formulas for screen readers, dark-theme contrast).

axe-core is the engine behind Lighthouse's accessibility audit; `make test` unpacks npm's
package into _build/vendor-test (not into the book). A page fails on any violation of impact
"serious" or "critical", named with its rule, page and elements.
"""

from __future__ import annotations

import json

import pytest
from book_site import ROOT, chromium, require_built_book, serve, toc_docnames
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

AXE_DIR = ROOT / "_build" / "vendor-test"
PAGES = toc_docnames()
SERIOUS = {"serious", "critical"}
#: WCAG 2.1 A and AA, plus axe's best practices.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                      "best-practice"]},
               "resultTypes": ["violations"]}


def _axe_source() -> str:
    found = sorted(AXE_DIR.glob("axe-*/axe.min.js"))
    if not found:
        raise AssertionError(f"axe-core is missing from {AXE_DIR}: `make test` unpacks it "
                             "(npm pack axe-core).")
    return found[-1].read_text()


@pytest.fixture(scope="module")
def browser():
    require_built_book()
    with serve() as server, chromium() as driver:
        yield server, driver


def _audit(driver, theme: str = "light", rules: list[str] | None = None) -> list[dict]:
    """axe's violations on the page open in ``driver``, in the light or dark theme."""
    driver.execute_script(
        "document.documentElement.dataset.mode = arguments[0];"
        "document.documentElement.dataset.theme = arguments[0];", theme)
    if not driver.execute_script("return typeof axe !== 'undefined'"):
        driver.execute_script(_axe_source())
    options = dict(AXE_OPTIONS)
    if rules:
        options = {"runOnly": {"type": "rule", "values": rules}, "resultTypes": ["violations"]}
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, arguments[0]).then(r => done(JSON.stringify(r.violations)),"
        " e => done(JSON.stringify({error: String(e)})));", options)
    violations = json.loads(result)
    assert not isinstance(violations, dict), f"axe failed: {violations}"
    return violations


def _describe(violations: list[dict], docname: str) -> str:
    lines = []
    for v in violations:
        lines.append(f"{docname}: [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:4]:
            lines.append(f"    at {' '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


def _open(browser, docname: str):
    server, driver = browser
    driver.get(server.url(docname))
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "(window.MathJax && MathJax.startup ? MathJax.startup.promise : Promise.resolve())"
        ".then(() => done(true), () => done(true));")
    return driver


@pytest.mark.parametrize("docname", PAGES)
def test_page_has_no_serious_accessibility_violation(browser, docname):
    driver = _open(browser, docname)
    serious = [v for v in _audit(driver) if v["impact"] in SERIOUS]
    assert not serious, "\n" + _describe(serious, docname)


@pytest.mark.parametrize("docname", [p for p in PAGES if p.startswith("chapters/")][:2] + ["intro"])
def test_dark_theme_keeps_contrast(browser, docname):
    driver = _open(browser, docname)
    bad = _audit(driver, theme="dark", rules=["color-contrast"])
    assert not [v for v in bad if v["impact"] in SERIOUS], "\n" + _describe(bad, docname)


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

