"""The built book's pages, read as HTML: structure, accessibility, links, buttons, references.

Pages come from ``_toc.yml``; the build is ``_build/html`` (``make test`` brings it up to date).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from book_site import (
    EXTERNAL,
    HTML,
    ROOT,
    broken_reference,
    chapter_docnames,
    html_file,
    repository,
    require_built_book,
    toc_docnames,
)
from bs4 import BeautifulSoup

PAGES = toc_docnames()
CHAPTERS = chapter_docnames()
REFERENCE_PAGES = ["book/notation", "book/glossary", "book/references"]


@pytest.fixture(scope="module", autouse=True)
def built_book():
    require_built_book()


@cache
def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def article(docname: str):
    """The page's content (without the theme's navigation), headerlinks removed."""
    main = soup(html_file(docname)).select_one("article.bd-article") or soup(html_file(docname))
    for link in main.select("a.headerlink"):
        link.decompose()
    return main


def test_every_page_of_the_table_of_contents_is_built():
    missing = [name for name in PAGES if not html_file(name).is_file()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}; rebuild with `make book`"


def test_the_built_book_is_newer_than_its_sources():
    stamp = HTML / ".built"
    assert stamp.is_file(), "no _build/html/.built: build the book with `make book`"
    # The same sources as the Makefile's BOOK_SOURCES.
    sources = [ROOT / "_config.yml", ROOT / "_toc.yml", ROOT / "intro.md",
               *ROOT.glob("chapters/*/*.ipynb"),
               *(p for folder in ("book", "_static") for p in (ROOT / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts)]
    newer = [str(p.relative_to(ROOT)) for p in sources if p.stat().st_mtime > stamp.stat().st_mtime]
    assert not newer, f"changed since the book was built: {newer}; run `make book`"


def test_landing_page_links_the_notation_glossary_and_references():
    for name in REFERENCE_PAGES:
        assert name in PAGES, f"{name} is not in _toc.yml"
    hrefs = {urlsplit(a["href"]).path for a in article("intro").select("a[href]")}
    for name in REFERENCE_PAGES:
        assert f"{name}.html" in hrefs, f"intro.md does not link {name}"


@pytest.mark.parametrize("docname", PAGES)
def test_every_image_has_alt_text(docname):
    bad = []
    for img in soup(html_file(docname)).find_all("img"):
        alt, src = (img.get("alt") or "").strip(), img.get("src", "")
        # Sphinx falls back to the file name when a figure has no alt text.
        if not alt or alt == src or re.search(r"\.(png|jpe?g|gif|svg|webp)$", alt, re.I):
            bad.append(src)
        # The logo and icons aside, alt text says what the figure shows: not "figure" or "plot".
        elif "/_static/" not in src and (len(alt.split()) < 4 or re.fullmatch(
                r"(an? )?(figure|plot|image|graph|chart|output|picture)( \d+)?\.?", alt, re.I)):
            bad.append(f"{src} (alt {alt!r} does not say what it shows)")
    assert not bad, (f"{docname}: images without alt text: {bad}. Give each plotting cell "
                     'metadata {"mystnb": {"image": {"alt": "..."}}}.')


def test_every_built_page_links_only_to_what_exists():
    """The link check of the whole build: indices, search page and all."""
    pages = [p for p in HTML.rglob("*.html") if not {"_static", "_sources"} & set(p.parts)]
    broken = []
    for page in pages:
        for tag in soup(page).find_all(["a", "link", "script", "img"]):
            for attr in ("href", "src"):
                if (why := broken_reference(page, tag.get(attr, ""))):
                    broken.append(f"{page.relative_to(HTML)}: {why}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("docname", PAGES)
def test_page_loads_no_script_style_or_font_from_another_site(docname):
    page = soup(html_file(docname))
    remote = [t.get("src") for t in page.find_all(["script", "img"]) if EXTERNAL.match(t.get("src", ""))]
    remote += [t["href"] for t in page.find_all("link", href=True)
               if EXTERNAL.match(t["href"]) and {"stylesheet", "icon", "preload"} & set(t.get("rel", []))]
    assert not remote, f"{docname} would fetch {remote}: ship it in the book instead"


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_opens_with_objectives_and_prerequisites(docname):
    top = article(docname).find("section")
    opening = " ".join(child.get_text(" ") for child in top.find_all(recursive=False)
                       if child.name != "section")
    for phrase in ("learning objectives", "prerequisites"):
        assert phrase in opening.lower(), (
            f"{docname}: the text before the first section should state the {phrase}")


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_closes_with_a_summary(docname):
    titles = [h.get_text(" ", strip=True) for h in article(docname).find_all("h2")]
    summary = [i for i, t in enumerate(titles) if re.search(r"\bsummary\b", t, re.I)]
    assert summary, f"{docname}: no section called Summary among {titles}"
    after = titles[summary[-1] + 1:]
    allowed = re.compile(r"further reading|references|bibliography|next|exercises", re.I)
    assert all(allowed.search(t) for t in after), (
        f"{docname}: only further reading may follow the summary, found {after}")


@pytest.mark.parametrize("docname", CHAPTERS)
def test_chapter_has_binder_colab_and_download_buttons(docname):
    repo = repository()
    org_repo = repo["url"].rstrip("/").removeprefix("https://github.com/")
    path = f"{repo.get('path_to_book') or ''}{docname}.ipynb".lstrip("/")
    hrefs = {a["href"] for a in soup(html_file(docname)).find_all("a", href=True)}
    expected = {
        "Binder": f"https://mybinder.org/v2/gh/{org_repo}/{repo['branch']}?urlpath=lab/tree/{path}",
        "Colab": f"https://colab.research.google.com/github/{org_repo}/blob/{repo['branch']}/{path}",
    }
    for button, url in expected.items():
        assert url in hrefs, f"{docname}: no {button} button for {url}"
    downloads = [h for h in hrefs if h.endswith(f"_sources/{docname}.ipynb")]
    assert downloads, f"{docname}: no 'download .ipynb' link"
    assert not broken_reference(html_file(docname), downloads[0])


def test_glossary_defines_the_course_terms():
    terms = {dt.get_text(" ", strip=True).lower() for dt in article("book/glossary").find_all("dt")}
    required = ["cell state", "hidden state", "gate", "candidate", "forget gate", "input gate",
                "output gate", "bptt", "truncated bptt", "vanishing gradient", "exploding gradient",
                "gradient clipping", "constant error carousel", "peephole", "cifg", "gru",
                "bidirectional", "stacked", "perplexity", "teacher forcing", "packed sequence"]
    missing = [t for t in required if t not in terms]
    assert not missing, f"glossary lacks {missing}"


def test_notation_lists_every_symbol_with_its_shape():
    page = article("book/notation")
    tex = " ".join(re.sub(r"\s+", "", m.get_text()) for m in page.select(".math"))
    required = [r"x_t", r"h_t", r"c_t", r"f_t", r"i_t", r"\tilde{c}_t", r"o_t", r"W_f", r"b_f",
                r"\sigma", r"\odot", "T", "B", "I", "H", r"z_t=[h_{t-1},x_t]", "(4H,H+I)",
                "(4H,)", "r_t", "n_t", "p_f", "L", r"\gamma", r"\sigma_{\max}", "(B,H)", "(B,I)"]
    missing = [s for s in required if s not in tex]
    assert not missing, f"notation page lacks {missing}"
    text = page.get_text(" ")
    for phrase in ("(out, in)", "i, f, g, o", "input_size", "hidden_size"):
        assert phrase in text, f"notation page does not state {phrase!r}"


def test_references_page_lists_every_bibliography_entry():
    entries = re.findall(r"^@\w+\{", (ROOT / "book" / "references.bib").read_text(), re.M)
    listed = article("book/references").select("div.citation")
    assert len(listed) == len(entries) > 0


@pytest.mark.parametrize("docname", PAGES)
def test_citations_show_authors_and_year(docname):
    cites = article(docname).select("span.bibtex-citation")
    bad = [c.get_text() for c in cites
           if not re.search(r"[A-Za-z].*\b(19|20)\d\d", c.get_text()) or not c.select("a[href]")]
    assert not bad, f"{docname}: citations without author, year or link: {bad}"


def test_performance_appendix_shows_its_measurements_as_tables():
    """The appendix's Markdown tables (cell outputs) are rendered as tables, not lines of pipes."""
    page = article("book/performance")
    tables = page.select("table")
    headers = [" ".join(th.get_text(" ", strip=True) for th in t.select("th")) for t in tables]
    assert any("target" in h and "met" in h for h in headers)
    assert any("nn.LSTM" in h and "pass" in h for h in headers)
    assert any("seconds per submission" in h for h in headers)
    assert "|---" not in page.get_text() and "|—" not in page.get_text()
