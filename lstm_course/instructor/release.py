"""Generate the student notebooks in ``chapters/`` from the nbgrader sources in ``solutions/``.

One source, three outputs: ``solutions/<ch>/<ch>.ipynb`` is the answer key (with hidden
tests); nbgrader's ``generate_assignment`` strips solutions and hidden tests; we then tag the
cells a student has still to complete so that the book (strict build) and nbval accept that
they raise, and the page shows the exercise rather than a traceback. Each student notebook
also gets a set-up cell, before its first code cell and hidden in the book, that installs
``lstm_course`` on Google Colab (which, unlike Binder, does not read ``requirements.txt``)
from the repository named in ``_config.yml``, and does nothing anywhere else.
"""

from __future__ import annotations

import copy
import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

from lstm_course.instructor.grading.course import venv_path_env

#: Tags added to exercise cells and their test cells in the student version.
#: ``raises-exception`` lets nbclient/Jupyter Book and nbval run on past them;
#: ``remove-output`` keeps the traceback of an unanswered exercise off the page.
EXERCISE_TAGS = ("raises-exception", "remove-output")
IGNORED = {".ipynb_checkpoints", "__pycache__"}
COLAB_CELL_ID = "colab-setup"
COLAB_CELL = """\
# On Google Colab, install the course's helper package first (anywhere else this does nothing).
try:
    import google.colab  # a module that exists only on Colab
except ImportError:
    pass
else:
    %pip install --quiet --no-deps "lstm-course @ git+{url}@{branch}"
"""


def find_root(start: Path | None = None) -> Path:
    """The course root: the nearest folder upwards holding ``solutions/`` and ``_toc.yml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "solutions").is_dir() and (folder / "_toc.yml").is_file():
            return folder
    raise SystemExit(f"lstm-course: no course root (with solutions/ and _toc.yml) above {here}")


def chapter_names(root: Path) -> list[str]:
    """Chapters are folders ``solutions/<name>/`` holding ``<name>.ipynb``, in name order."""
    return sorted(
        p.name for p in (root / "solutions").iterdir()
        if p.is_dir() and (p / f"{p.name}.ipynb").is_file()
    )


def is_exercise_cell(cell) -> bool:
    """An answer cell or a test cell: what may raise in the student version."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("solution") or meta.get("grade"))


_ROLE = re.compile(r"\{(term|cite:t|cite:p|cite)\}`([^`]*)`")
BOOK_FROM_CHAPTER = "../../book"  # chapters/<ch>/<ch>.ipynb -> book/


def _author_year(entry) -> tuple[str, str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(p.last_names) for p in people]
    if len(names) > 2:
        authors = f"{names[0]} et al."
    else:
        authors = " and ".join(names) or entry.fields.get("title", "?")
    return authors, entry.fields.get("year", "n.d.")


def glossary_terms(root: Path) -> dict[str, str]:
    """The terms of ``book/glossary.md``'s glossary, lower-cased -> as written (Sphinx matches a
    term case-insensitively but builds its link target from the term as written)."""
    text = (root / "book" / "glossary.md").read_text()
    block = text[text.index("```{glossary}"):]
    block = block[:block.index("\n```", 3)]
    terms = [line.strip() for line in block.splitlines()[1:]
             if line.strip() and not line.startswith((" ", ":"))]
    return {term.lower(): term for term in terms}


def portable_markdown(text: str, bibliography, glossary: dict[str, str]) -> str:
    """MyST roles that only Sphinx resolves, written as plain Markdown links that every notebook
    front end renders (JupyterLab, Jupyter Notebook, Colab) and the book still links:

    * ``{term}`forget gate``` -> ``[forget gate](../../book/glossary.md#term-forget-gate)``;
    * ``{cite:t}`hochreiter1997``` -> ``[Hochreiter and Schmidhuber (1997)](../../book/references.md)``,
      ``{cite:p}`...``` -> ``([Hochreiter and Schmidhuber, 1997](../../book/references.md))``.

    ``bibliography`` maps bib keys to pybtex entries (``book/references.bib``), ``glossary`` the
    glossary's terms (:func:`glossary_terms`). ``{eval}`` roles
    stay: the book and JupyterLab (jupyterlab-myst) both fill them in from the kernel.
    """
    from sphinx.util.nodes import _make_id  # how Sphinx makes a glossary term's id

    def replace(match: re.Match) -> str:
        role, body = match.groups()
        if role == "term":
            shown, _, target = body.partition(" <")
            target = " ".join((target.rstrip(">") if target else shown).split())  # may span lines
            if target.lower() not in glossary:
                raise SystemExit(f"lstm-course release: {target!r} is not a term of book/glossary.md")
            anchor = _make_id("term-" + glossary[target.lower()])
            return f"[{shown}]({BOOK_FROM_CHAPTER}/glossary.md#{anchor})"
        refs = f"{BOOK_FROM_CHAPTER}/references.md"
        cited = []
        for key in (k.strip() for k in body.split(",")):
            if key not in bibliography:
                raise SystemExit(f"lstm-course release: citation {key!r} is not in book/references.bib")
            authors, year = _author_year(bibliography[key])
            shown = f"{authors} ({year})" if role == "cite:t" else f"{authors}, {year}"
            cited.append(f"[{shown}]({refs})")
        return "; ".join(cited) if role == "cite:t" else f"({'; '.join(cited)})"

    return _ROLE.sub(replace, text)


def make_portable(nb, root: Path) -> None:
    """Rewrite the Sphinx-only roles of every markdown cell (see :func:`portable_markdown`)."""
    from pybtex.database import parse_file

    markdown = "".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    bibliography = parse_file(str(root / "book" / "references.bib")).entries if "{cite" in markdown else {}
    glossary = glossary_terms(root) if "{term}" in markdown else {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = portable_markdown(cell.source, bibliography, glossary)


def strip_demonstrations(nb):
    """The graded skeleton of a notebook (a copy): its markdown, the Colab set-up cell, the first
    other code cell (the imports) and the exercise and test cells; the demonstrations (training
    runs, figures) are left out."""
    nb = copy.deepcopy(nb)
    first_code = next(i for i, c in enumerate(nb.cells)
                      if c.cell_type == "code" and c.get("id") != COLAB_CELL_ID)
    nb.cells = [c for i, c in enumerate(nb.cells)
                if c.cell_type != "code" or i == first_code or c.get("id") == COLAB_CELL_ID
                or c.metadata.get("nbgrader")]
    return nb


def is_hidden_in_book(cell) -> bool:
    """A cell the book does not show: ``remove-cell`` (not run either: the Colab set-up) or
    ``remove-input`` with ``remove-output`` (run, shown nowhere: the checks of the text's claims)."""
    tags = set(cell.metadata.get("tags", []))
    return "remove-cell" in tags or {"remove-input", "remove-output"} <= tags


def fold_hidden_cells(nb) -> None:
    """Cells the book hides start folded in JupyterLab and Jupyter Notebook too
    (``jupyter.source_hidden``): a click unfolds them."""
    for cell in nb.cells:
        if is_hidden_in_book(cell):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True


def tag_exercises(nb) -> None:
    for cell in nb.cells:
        if is_exercise_cell(cell):
            tags = cell.metadata.setdefault("tags", [])
            tags.extend(t for t in EXERCISE_TAGS if t not in tags)


def colab_setup_cell(root: Path):
    """The set-up cell for Colab, installing from ``repository.url`` of ``_config.yml``.

    Torch, NumPy, Matplotlib and tqdm are already on Colab, hence ``--no-deps``: the pinned
    versions of ``requirements.txt`` would replace Colab's CUDA build of PyTorch.
    """
    config = root / "_config.yml"
    try:
        repo = yaml.safe_load(config.read_text())["repository"]
        url = repo["url"]
    except (OSError, KeyError, TypeError) as err:
        raise SystemExit(f"lstm-course release: {config} must set repository.url, the repository "
                         f"that the Colab set-up cell installs lstm_course from ({err!r})") from err
    cell = nbformat.v4.new_code_cell(
        COLAB_CELL.format(url=url.removesuffix("/"), branch=repo.get("branch", "main")).rstrip(),
        metadata={"tags": ["remove-cell"]})
    cell["id"] = COLAB_CELL_ID
    return cell


def add_colab_setup(nb, root: Path) -> None:
    first_code = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, colab_setup_cell(root))


def generate(root: Path, chapters: list[str], dest: Path) -> None:
    """Write the student version of each of ``chapters`` into ``dest/<chapter>/`` (created anew).

    One nbgrader process generates them all (its start-up is most of the cost of one chapter).
    """
    with tempfile.TemporaryDirectory(prefix="lstm-release-") as tmp:
        course = Path(tmp)
        for chapter in chapters:
            shutil.copytree(root / "solutions" / chapter, course / "source" / chapter,
                            ignore=shutil.ignore_patterns(*IGNORED))
        cmd = [
            sys.executable, "-m", "nbgrader", "generate_assignment", "*",
            "--no-db", "--force", "--log-level=WARN",
            f"--CourseDirectory.root={course}",
            "--CourseDirectory.source_directory=source",
            "--CourseDirectory.release_directory=release",
        ]
        proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=venv_path_env())
        if proc.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed for {', '.join(chapters)}:\n"
                               f"{proc.stderr}")
        for chapter in chapters:
            released = course / "release" / chapter
            for path in released.glob("*.ipynb"):
                nb = nbformat.read(path, as_version=4)
                tag_exercises(nb)
                make_portable(nb, root)
                add_colab_setup(nb, root)
                fold_hidden_cells(nb)
                nbformat.write(nb, path)
            if (dest / chapter).exists():
                shutil.rmtree(dest / chapter)
            shutil.copytree(released, dest / chapter)


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b, ignore=list(IGNORED))
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def stale_chapters(root: Path) -> list[str]:
    """Chapters whose ``chapters/<ch>/`` differs from what ``release`` would write now,
    plus folders in ``chapters/`` that no longer have a source."""
    stale = []
    with tempfile.TemporaryDirectory(prefix="lstm-check-") as tmp:
        generate(root, chapter_names(root), Path(tmp))
        for chapter in chapter_names(root):
            current = root / "chapters" / chapter
            if not current.is_dir() or not _same_tree(Path(tmp) / chapter, current):
                stale.append(chapter)
    sources = set(chapter_names(root))
    orphans = [p.name for p in sorted((root / "chapters").glob("ch*")) if p.is_dir()
               and p.name not in sources]
    return stale + orphans


def release(root: Path, chapters: list[str] | None = None) -> list[str]:
    """Regenerate ``chapters/`` (all chapters, or the ones named). Returns what was written."""
    names = chapters or chapter_names(root)
    unknown = sorted(set(names) - set(chapter_names(root)))
    if unknown:
        raise SystemExit(f"lstm-course release: no source notebook for {', '.join(unknown)}")
    generate(root, names, root / "chapters")
    return names
