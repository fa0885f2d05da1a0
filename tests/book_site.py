"""The built book as a reader gets it: its pages, a local web server, and headless Chromium.

The book tests read the pages from the table of contents (``_toc.yml``), never from a fixed
list, so a chapter is tested as soon as it is in the book. They need a built book:
``make test`` builds ``_build/html`` first when it is missing or older than its sources.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
#: The built book; BOOK_HTML points the tests at another build (e.g. a partial one while writing).
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
ARTIFACTS = ROOT / "test-artifacts"

#: Flags that make Debian's Chromium quiet and self-contained when run as root in a container.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,900", "--force-device-scale-factor=1", "--hide-scrollbars",
)


#: The table of contents the build used; BOOK_TOC names another (with BOOK_HTML).
TOC = Path(os.environ.get("BOOK_TOC", ROOT / "_toc.yml"))


def toc_docnames(toc: Path = TOC) -> list[str]:
    """Every page of the book in reading order: the root, then each ``file:`` entry."""
    data = yaml.safe_load(toc.read_text())
    names = [data["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in data.items() if k != "root"})
    return [str(Path(n).with_suffix("")) if Path(n).suffix in {".md", ".ipynb"} else n
            for n in names]


def chapter_docnames() -> list[str]:
    """The chapters: the table of contents' pages that live in ``chapters/``."""
    return [name for name in toc_docnames() if name.startswith("chapters/")]


def html_file(docname: str) -> Path:
    return HTML / f"{docname}.html"


def require_built_book() -> None:
    """Fail with the command to run when there is no built book to test."""
    if not (HTML / "index.html").is_file():
        raise AssertionError(f"No built book in {HTML}: run `make book` (or `make test`, which builds it).")


def repository() -> dict[str, str]:
    """The ``repository:`` settings of ``_config.yml`` (url, branch, path_to_book)."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]


# --- a local web server ---------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the build folder and records (path, status) of every request."""

    log: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        self.log.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass


@contextmanager
def serve(folder: Path = HTML) -> Iterator[BookServer]:
    """Serve ``folder`` on an ephemeral port of 127.0.0.1 for the duration of the block."""
    log: list[tuple[str, int]] = []
    handler = type("Handler", (_QuietHandler,), {"log": log})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield BookServer(f"http://127.0.0.1:{httpd.server_address[1]}", log)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@dataclass
class BookServer:
    base: str
    log: list[tuple[str, int]]

    def url(self, docname: str) -> str:
        return f"{self.base}/{docname}.html"

    def is_local(self, url: str) -> bool:
        return url.startswith(self.base + "/") or url.split(":", 1)[0] in {"data", "blob", "about"}


# --- headless Chromium ----------------------------------------------------------------------

def chromium_binary() -> str | None:
    """Debian's Chromium: the real binary behind the /usr/bin/chromium wrapper script."""
    for path in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
        if path and os.access(path, os.X_OK):
            return path
    return None


@contextmanager
def chromium() -> Iterator:
    """A Selenium driver for headless Chromium that records console messages and requests."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_binary(), shutil.which("chromedriver")
    if not binary or not driver_path:
        raise AssertionError("Chromium and chromedriver are missing: `make test` installs them "
                             "(apt-get install chromium chromium-driver).")
    with tempfile.TemporaryDirectory(prefix="book-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        _settle_start_page(driver)
        try:
            yield driver
        finally:
            driver.quit()


def _settle_start_page(driver, timeout: float = 10.0) -> None:
    """Let Chromium's own start page finish loading (it fetches chrome:// resources and
    tries a Web Store icon) so that its requests are not counted against the first page."""
    driver.get("about:blank")
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 3 and time.monotonic() < deadline:
        quiet = 0 if driver.get_log("performance") else quiet + 1
        time.sleep(0.2)
    driver.get_log("browser")


@dataclass
class PageVisit:
    """What a reader's browser did and saw on one page."""

    url: str
    console: list[dict] = field(default_factory=list)    # {"level", "message"}
    requests: list[str] = field(default_factory=list)    # every URL the page asked for
    failed: list[str] = field(default_factory=list)      # requests that failed (URL: reason)
    images: list[dict] = field(default_factory=list)     # {"src", "alt", "width", "height"}
    math: dict = field(default_factory=dict)             # see _MATH_JS
    links: list[str] = field(default_factory=list)       # absolute URLs of <a href>
    violations: list[dict] = field(default_factory=list)       # axe's, light theme (audit())
    dark_violations: list[dict] = field(default_factory=list)  # axe's color-contrast, dark theme


# Wait for every image (decoded or failed) and for MathJax to finish, then report.
_SETTLE_JS = """
const done = arguments[arguments.length - 1];
const images = [...document.images];
images.forEach(img => { img.loading = "eager"; });
const decoded = Promise.all(images.map(img => img.decode().catch(() => null)));
const typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise)
    ? MathJax.startup.promise : Promise.resolve();
Promise.all([decoded, typeset]).then(() => done(true), e => done(String(e)));
"""

_MATH_JS = r"""
const maths = [...document.querySelectorAll("span.math, div.math")];
const skip = "pre, code, script, style, mjx-container, .highlight, textarea";
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const raw = [];
const pattern = /\\\(|\\\[|\$\$|\$[^$\n]*[\\_^][^$\n]*\$/;
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement && !n.parentElement.closest(skip) && pattern.test(n.textContent)) {
    raw.push(n.textContent.trim().slice(0, 120));
  }
}
return {
  formulas: maths.length,
  typeset: maths.filter(m => m.querySelector("mjx-container")).length,
  untypeset: maths.filter(m => !m.querySelector("mjx-container"))
                  .map(m => m.textContent.trim().slice(0, 120)),
  errors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
              .map(e => e.getAttribute("data-mjx-error") || e.textContent.slice(0, 120)),
  raw_tex: raw,
};
"""

_IMAGES_JS = """
return [...document.images].map(img => ({
  src: img.currentSrc || img.src, alt: img.getAttribute("alt"),
  width: img.naturalWidth, height: img.naturalHeight}));
"""

_LINKS_JS = "return [...document.querySelectorAll('a[href]')].map(a => a.href);"


def visit(driver, url: str) -> PageVisit:
    """Open ``url`` like a reader, let images and math settle, and record what happened."""
    driver.get_log("performance")   # drop what earlier pages left behind
    driver.get_log("browser")
    driver.get(url)
    settled = driver.execute_async_script(_SETTLE_JS)
    page = PageVisit(url=url)
    if settled is not True:
        page.console.append({"level": "SEVERE", "message": f"page did not settle: {settled}"})
    page.images = driver.execute_script(_IMAGES_JS)
    page.math = driver.execute_script(_MATH_JS)
    page.links = driver.execute_script(_LINKS_JS)
    page.console += [{"level": e["level"], "message": e["message"]}
                     for e in driver.get_log("browser")]
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            page.requests.append(params["request"]["url"])
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            page.failed.append(f"{params.get('requestId')}: {params.get('errorText')}")
    return page


# --- accessibility (axe-core) ---------------------------------------------------------------

#: axe-core (the engine of Lighthouse's accessibility audit): `make test` unpacks npm's package
#: into _build/vendor-test (not into the book).
AXE_DIR = ROOT / "_build" / "vendor-test"
#: A page fails on any violation of impact "serious" or "critical".
SERIOUS = {"serious", "critical"}
#: WCAG 2.1 A and AA, plus axe's best practices.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                      "best-practice"]},
               "resultTypes": ["violations"]}


@functools.cache
def _axe_source() -> str:
    found = sorted(AXE_DIR.glob("axe-*/axe.min.js"))
    if not found:
        raise AssertionError(f"axe-core is missing from {AXE_DIR}: `make test` unpacks it "
                             "(npm pack axe-core).")
    return found[-1].read_text()


#: Switch the theme, then wait for the transitions it starts (the theme's buttons fade their
#: colours over 0.15 s): axe reading a colour half-way measured a contrast no reader sees, and
#: failed the search button in 5 of 16 dark audits made right after a light one.
_THEME_JS = """
const done = arguments[arguments.length - 1];
document.documentElement.dataset.mode = arguments[0];
document.documentElement.dataset.theme = arguments[0];
requestAnimationFrame(() => Promise.all(document.getAnimations().map(a => a.finished))
  .then(() => done(true), () => done(true)));
"""


def audit(driver, theme: str = "light", rules: list[str] | None = None) -> list[dict]:
    """axe's violations on the page open in ``driver``, in the light or dark theme."""
    driver.execute_async_script(_THEME_JS, theme)
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


def describe_violations(violations: list[dict], docname: str) -> str:
    lines = []
    for v in violations:
        lines.append(f"{docname}: [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"][:4]:
            lines.append(f"    at {' '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


# --- links ----------------------------------------------------------------------------------

#: A reference with a scheme (http:, mailto:, data:, ...) or a host: not a file of the book.
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    """The ids (and old-style names) a link's #fragment can point to in the HTML file."""
    page = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    return frozenset(t["id"] for t in page.find_all(id=True)) | frozenset(
        t["name"] for t in page.find_all(attrs={"name": True}))


def broken_reference(page: Path, ref: str) -> str | None:
    """Why ``ref`` (an href or src on the built ``page``) does not resolve in the build, else None."""
    if not ref or EXTERNAL.match(ref):
        return None
    parts = urlsplit(ref)
    target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
    return _missing(target, unquote(parts.fragment), ref)


def broken_url(base: str, url: str) -> str | None:
    """Like broken_reference, for an absolute URL on the test server (others are not checked)."""
    if not url.startswith(base + "/"):
        return None
    parts = urlsplit(url)
    target = (HTML / unquote(parts.path).lstrip("/")).resolve()
    return _missing(target, unquote(parts.fragment), url)


def _missing(target: Path, fragment: str, ref: str) -> str | None:
    root = HTML.resolve()
    if target.is_dir():
        target = target / "index.html"
    if root != target and root not in target.parents:
        return f"{ref!r} points outside the book"
    if not target.is_file():
        return f"{ref!r}: no file {target.relative_to(root)}"
    if fragment and target.suffix == ".html" and fragment not in anchors(target):
        return f"{ref!r}: no anchor #{fragment} in {target.relative_to(root)}"
    return None
