"""The book in a real browser: headless Chromium opens every page of the table of contents,
served from 127.0.0.1, as a reader would, with no network beyond this machine.

Each page is visited once (cached per module); the tests below read what happened there,
axe-core's accessibility audit of the page included (light theme; dark theme too on a few pages).
The checks axe cannot make (keyboard, formulas for screen readers) are test_accessibility.py's.
Screenshots of a chapter page go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import pytest
from book_site import (
    ARTIFACTS,
    SERIOUS,
    PageVisit,
    audit,
    broken_url,
    chapter_docnames,
    chromium,
    describe_violations,
    require_built_book,
    serve,
    toc_docnames,
    visit,
)
from selenium.webdriver.support.ui import WebDriverWait

PAGES = toc_docnames()
#: Pages also audited in the dark theme (its contrast): two chapters and the front page.
DARK_PAGES = [p for p in PAGES if p.startswith("chapters/")][:2] + ["intro"]


@pytest.fixture(scope="module")
def browser():
    require_built_book()
    with serve() as server, chromium() as driver:
        yield server, driver


@pytest.fixture(scope="module")
def visits() -> dict[str, PageVisit]:
    return {}


@pytest.fixture
def page(request, browser, visits) -> PageVisit:
    """The visit of the page named by the test's ``docname`` parameter."""
    docname = request.node.callspec.params["docname"]
    if docname not in visits:
        server, driver = browser
        before = len(server.log)
        visits[docname] = page = visit(driver, server.url(docname))
        page.failed += [f"{path}: HTTP {code}" for path, code in server.log[before:] if code >= 400]
        page.violations = audit(driver)
        if docname in DARK_PAGES:
            page.dark_violations = audit(driver, theme="dark", rules=["color-contrast"])
    return visits[docname]


@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_without_console_errors_or_warnings(docname, page):
    problems = [c for c in page.console if c["level"] in {"SEVERE", "WARNING"}]
    assert not problems, f"{docname}: " + "\n".join(c["message"] for c in problems)


@pytest.mark.parametrize("docname", PAGES)
def test_page_requests_nothing_outside_localhost_and_every_request_succeeds(docname, page, browser):
    server, _ = browser
    outside = [u for u in page.requests if not server.is_local(u)]
    assert not outside, f"{docname} reached beyond the book: {outside}"
    assert not page.failed, f"{docname}: failed requests {page.failed}"


@pytest.mark.parametrize("docname", PAGES)
def test_every_image_loads(docname, page):
    broken = [img["src"] for img in page.images if not (img["width"] and img["height"])]
    assert not broken, f"{docname}: images that did not load: {broken}"


@pytest.mark.parametrize("docname", PAGES)
def test_every_formula_is_typeset(docname, page):
    math = page.math
    assert not math["untypeset"], f"{docname}: formulas MathJax left as TeX: {math['untypeset'][:5]}"
    assert not math["errors"], f"{docname}: TeX errors: {math['errors']}"
    assert not math["raw_tex"], f"{docname}: TeX outside any formula: {math['raw_tex'][:5]}"
    assert math["typeset"] == math["formulas"]


@pytest.mark.parametrize("docname", PAGES)
def test_internal_links_resolve(docname, page, browser):
    server, _ = browser
    broken = [why for url in sorted(set(page.links)) if (why := broken_url(server.base, url))]
    assert not broken, f"{docname}: " + "\n".join(broken)


@pytest.mark.parametrize("docname", PAGES)
def test_page_has_no_serious_accessibility_violation(docname, page):
    serious = [v for v in page.violations if v["impact"] in SERIOUS]
    assert not serious, "\n" + describe_violations(serious, docname)


@pytest.mark.parametrize("docname", DARK_PAGES)
def test_dark_theme_keeps_contrast(docname, page):
    bad = [v for v in page.dark_violations if v["impact"] in SERIOUS]
    assert not bad, "\n" + describe_violations(bad, docname)


def test_search_finds_forget_gate(browser):
    server, driver = browser
    driver.get(f"{server.base}/search.html?q=forget+gate")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "const s = document.querySelector('#search-results p.search-summary');"
        "return s && s.textContent.trim().length > 0;"))
    results = driver.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li a')].map(a => a.href);")
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "book-search-forget-gate.png"))
    assert any("book/glossary.html" in url for url in results), (
        f"searching 'forget gate' should find the glossary; results: {results}")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] in {"SEVERE", "WARNING"}]
    assert not errors, errors


def test_screenshots_of_a_chapter_page(browser):
    """Top of the first chapter, its first display formula and its first figure, for a person."""
    server, driver = browser
    chapter = chapter_docnames()[0]
    page = visit(driver, server.url(chapter))
    assert page.math["typeset"] > 0 and page.images
    ARTIFACTS.mkdir(exist_ok=True)
    name = chapter.rsplit("/", 1)[-1]
    shots = {f"{name}-top.png": None, f"{name}-formula.png": "div.math",
             f"{name}-figure.png": "article img:not([class*='logo'])"}
    for filename, selector in shots.items():
        if selector:
            driver.execute_script("document.querySelector(arguments[0])"
                                  ".scrollIntoView({block: 'center'});", selector)
            driver.execute_async_script("requestAnimationFrame(() => arguments[0]());")
        driver.save_screenshot(str(ARTIFACTS / filename))
        assert (ARTIFACTS / filename).stat().st_size > 10_000, f"{filename} looks empty"
