"""The book in a real browser: headless Chromium opens every page of the table of contents,
served from 127.0.0.1, as a reader would, with no network beyond this machine.

Each page is visited once (cached per module); the tests below read what happened there.
Screenshots of a chapter page go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import pytest
from book_site import (
    ARTIFACTS,
    PageVisit,
    broken_url,
    chapter_docnames,
    chromium,
    require_built_book,
    serve,
    toc_docnames,
    visit,
)
from selenium.webdriver.support.ui import WebDriverWait

PAGES = toc_docnames()


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
        visits[docname] = visit(driver, server.url(docname))
        visits[docname].failed += [f"{path}: HTTP {code}" for path, code in server.log[before:]
                                   if code >= 400]
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
