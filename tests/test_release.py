"""The single-source pipeline: chapters/ is generated from solutions/ and kept in sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import types

import nbformat
import pytest
import yaml
from conftest import ROOT, chapters

from lstm_course.instructor.release import EXERCISE_TAGS, is_exercise_cell


def _lstm_course(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lstm_course.instructor.cli", *args], cwd=cwd,
                          capture_output=True, text=True)


def test_release_check_passes_on_the_repository():
    proc = _lstm_course("release", "--check", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_release_check_names_a_stale_chapter_and_release_fixes_it(tmp_path):
    """On a copy of the course with one chapter (the smallest), so the test stays cheap."""
    course = tmp_path / "course"
    chapter = min(chapters(), key=lambda c: (ROOT / "solutions" / c / f"{c}.ipynb").stat().st_size)
    for name in ["solutions", "chapters"]:
        shutil.copytree(ROOT / name / chapter, course / name / chapter)
    for name in ["_toc.yml", "_config.yml", "book/references.bib", "book/glossary.md"]:
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, course / name)
    source = course / "solutions" / chapter / f"{chapter}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A new closing remark."))
    nbformat.write(nb, source)

    stale = _lstm_course("release", "--check", cwd=course)
    assert stale.returncode == 1
    assert chapter in stale.stderr

    assert _lstm_course("release", cwd=course).returncode == 0
    assert _lstm_course("release", "--check", cwd=course).returncode == 0
    # idempotent: a second release changes nothing
    before = (course / "chapters" / chapter / f"{chapter}.ipynb").read_bytes()
    assert _lstm_course("release", cwd=course).returncode == 0
    assert (course / "chapters" / chapter / f"{chapter}.ipynb").read_bytes() == before


@pytest.mark.parametrize("chapter", chapters())
def test_source_notebook_is_stored_without_outputs(chapter):
    nb = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{chapter}: cells {dirty} carry outputs; store solutions/ clean"


@pytest.mark.parametrize("chapter", chapters())
def test_student_version_hides_solutions_and_hidden_tests_and_tags_exercises(chapter):
    nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    text = json.dumps(nb)
    for marker in ["BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]:
        assert marker not in text
    exercises = [c for c in nb.cells if is_exercise_cell(c)]
    assert len(exercises) >= 6, f"{chapter} should have at least 3 exercises with tests"
    for cell in exercises:
        assert set(EXERCISE_TAGS) <= set(cell.metadata.get("tags", []))


@pytest.mark.parametrize("chapter", chapters())
def test_grade_ids_are_unique_and_test_cells_have_points(chapter):
    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    metas = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    ids = [m["grade_id"] for m in metas]
    assert len(ids) == len(set(ids)), f"duplicate grade_id in {chapter}"
    graded = [m for m in metas if m.get("grade")]
    assert len(graded) >= 3 and all(m.get("points", 0) > 0 for m in graded)


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_is_in_the_table_of_contents(chapter):
    assert f"chapters/{chapter}/{chapter}" in (ROOT / "_toc.yml").read_text()


@pytest.mark.parametrize("chapter", chapters())
def test_student_version_installs_the_package_on_colab_before_any_code(chapter):
    from lstm_course.instructor.release import COLAB_CELL_ID

    nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0]["id"] == COLAB_CELL_ID
    assert "remove-cell" in code[0].metadata["tags"]   # not on the book's pages
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert f"git+{repo['url']}@{repo['branch']}" in code[0].source
    assert sum(c.get("id") == COLAB_CELL_ID for c in nb.cells) == 1


def _run_colab_cell(on_colab: bool) -> list[str]:
    """Run the set-up cell in an IPython shell whose `%pip` only records its arguments."""
    from IPython.core.interactiveshell import InteractiveShell

    from lstm_course.instructor.release import colab_setup_cell

    shell = InteractiveShell.instance()
    calls: list[str] = []
    shell.register_magic_function(calls.append, magic_kind="line", magic_name="pip")
    saved = {k: sys.modules.get(k) for k in ("google", "google.colab")}
    if on_colab:
        google = types.ModuleType("google")
        google.colab = types.ModuleType("google.colab")
        sys.modules.update({"google": google, "google.colab": google.colab})
    else:
        sys.modules["google.colab"] = None   # makes `import google.colab` raise ImportError
    try:
        result = shell.run_cell(colab_setup_cell(ROOT).source)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        InteractiveShell.clear_instance()
    assert result.success, result.error_in_exec
    return calls


def test_colab_cell_installs_only_on_colab_and_without_dependencies():
    assert _run_colab_cell(on_colab=False) == []
    [args] = _run_colab_cell(on_colab=True)
    assert args.startswith("install") and "--no-deps" in args and "lstm-course @ git+" in args


def test_portable_markdown_writes_terms_and_citations_as_links_every_front_end_renders():
    from pybtex.database import parse_file

    from lstm_course.instructor.release import glossary_terms, portable_markdown

    bib = parse_file(str(ROOT / "book" / "references.bib")).entries
    glossary = glossary_terms(ROOT)
    assert glossary["gru"] == "GRU" and glossary["cell state"] == "cell state"
    text = ("An {term}`cell state` avoids {term}`vanishing <vanishing gradient>` gradients "
            "{cite:p}`hochreiter1997,pascanu2013`, as {cite:t}`hochreiter1997` showed; "
            "it reaches {eval}`acc`.")
    assert portable_markdown(text, bib, glossary) == (
        "An [cell state](../../book/glossary.md#term-cell-state) avoids "
        "[vanishing](../../book/glossary.md#term-vanishing-gradient) gradients "
        "([Hochreiter and Schmidhuber, 1997](../../book/references.md); "
        "[Pascanu et al., 2013](../../book/references.md)), as "
        "[Hochreiter and Schmidhuber (1997)](../../book/references.md) showed; it reaches {eval}`acc`."
    )
    assert portable_markdown("a {term}`gru <GRU>`", bib, glossary) == (
        "a [gru](../../book/glossary.md#term-GRU)")
    with pytest.raises(SystemExit, match="nokey"):
        portable_markdown("{cite:p}`nokey`", bib, glossary)
    with pytest.raises(SystemExit, match="no such term"):
        portable_markdown("{term}`no such term`", bib, glossary)


@pytest.mark.parametrize("chapter", chapters())
def test_student_version_has_no_sphinx_only_roles(chapter):
    nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    raw = [c.source[:120] for c in nb.cells if c.cell_type == "markdown"
           and re.search(r"\{(term|cite|cite:t|cite:p|doc|ref|numref)\}`", c.source)]
    assert not raw, f"{chapter}: roles JupyterLab and Colab cannot resolve: {raw}"


@pytest.mark.parametrize("chapter", chapters())
def test_cells_the_book_hides_start_folded_in_jupyterlab(chapter):
    nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    from lstm_course.instructor.release import is_hidden_in_book

    hidden = [c for c in nb.cells if is_hidden_in_book(c)]
    assert hidden, f"{chapter} has no hidden cell (the Colab set-up cell at least)"
    assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in hidden)
