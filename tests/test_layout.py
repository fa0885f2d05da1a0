"""The package's layout: two wings, and the chapter -> module table of its docstring."""

import ast
import importlib
import json

from conftest import ROOT, chapters

import lstm_course

PACKAGE = ROOT / "lstm_course"


def _table() -> dict[str, set[str]]:
    """The CHAPTER_MODULES table of the package docstring: chapter -> modules (continuation lines)."""
    doc = lstm_course.__doc__
    body = doc[doc.index("CHAPTER_MODULES") + len("CHAPTER_MODULES"):doc.index("\nEND")]
    table: dict[str, set[str]] = {}
    chapter = None
    for line in body.strip("\n").splitlines():
        if not line.startswith(" "):
            chapter, _, line = line.partition(" ")
            table[chapter] = set()
        table[chapter] |= {m.strip() for m in line.split(",") if m.strip()}
    return table


def _imported_modules(notebook) -> set[str]:
    """The lstm_course modules a notebook's code cells import (``from lstm_course.x import y``: x.y
    when y is a module, else x), without the top-level package's own re-exports."""
    found: set[str] = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        code = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstm_course"):
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    try:
                        importlib.import_module(name)
                    except ImportError:
                        name = node.module
                    found.add(name)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("lstm_course")}
    return {name.removeprefix("lstm_course.") for name in found if name != "lstm_course"}


def test_chapter_module_table_matches_every_notebooks_imports():
    table = _table()
    for chapter in chapters():
        notebook = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
        assert chapter in table, f"{chapter} has no row in lstm_course's CHAPTER_MODULES table"
        assert table[chapter] == _imported_modules(notebook), (
            f"{chapter}: the table says {sorted(table[chapter])}, the notebook imports "
            f"{sorted(_imported_modules(notebook))}"
        )
        for module in table[chapter]:
            importlib.import_module(f"lstm_course.{module}")


def test_only_the_instructor_wing_imports_nbgrader():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "instructor") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "nbgrader" or n.startswith("nbgrader.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"only lstm_course/instructor may import nbgrader: {offenders}"


def test_only_the_record_stage_opens_the_gradebook():
    """nbgrader's Gradebook is named in one module, grading/gradebook.py (the record stage)."""
    record = PACKAGE / "instructor" / "grading" / "gradebook.py"
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nbgrader"):
                if any(a.name == "Gradebook" for a in node.names) and path != record:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"only {record.relative_to(ROOT)} may open nbgrader's Gradebook: {offenders}"


def test_learner_wing_does_not_import_the_instructor_wing():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "instructor") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("lstm_course.instructor"):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"learner modules import the instructor wing: {offenders}"
