"""Citations as the course writes them: "Hochreiter and Schmidhuber (1997)" with {cite:t},
"(Hochreiter and Schmidhuber, 1997)" with {cite:p}, i.e. sphinxcontrib-bibtex's author-year
style with round brackets instead of its default square ones.

Used through ``bibtex_reference_style: author_year_round`` in ``_config.yml``. The same local
extension also ties the Performance appendix to ``book/bench_results.json``, so that a new bench
run rebuilds that page.
"""

import dataclasses

import sphinxcontrib.bibtex.plugin
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclasses.dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_textual: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_author: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_label: BracketStyle = dataclasses.field(default_factory=_round)
    bracket_year: BracketStyle = dataclasses.field(default_factory=_round)


def visit_citation(self, node):
    """A bibliography entry as docutils writes it, but as a list item: docutils gives the entries
    role "doc-biblioentry" inside a role="list" wrapper, and a list must hold list items (axe:
    aria-required-children; DPUB-ARIA 1.1 deprecated doc-biblioentry for that reason)."""
    if not isinstance(node.previous_sibling(), type(node)):
        self.body.append('<div role="list" class="citation-list">\n')
    self.body.append(self.starttag(node, "div", classes=[node.tagname], role="listitem"))


def depart_citation(self, node):
    self.body.append("</div>\n")
    if not isinstance(node.next_node(descend=False, siblings=True), type(node)):
        self.body.append("</div>\n")


def _performance_reads_the_bench(app, docname, source):
    """The Performance appendix renders book/bench_results.json: rebuild it when that changes
    (Sphinx otherwise re-executes a page only when the page itself changes)."""
    if docname == "book/performance":
        app.env.note_dependency("book/bench_results.json")


def setup(app):
    from docutils import nodes

    app.connect("source-read", _performance_reads_the_bench)

    app.add_node(nodes.citation, override=True, html=(visit_citation, depart_citation))
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", "author_year_round", RoundAuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
