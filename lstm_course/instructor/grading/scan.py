"""Flag submissions whose own code reaches into the machinery that runs the tests.

The test guard (:mod:`lstm_course.instructor.grading.guard`) undoes and detects the usual monkeypatching,
but code running in the same interpreter as the tests can, with enough effort, fool anything
there: unregister the guard, rewrite code objects, patch the interpreter through ``ctypes``. No
exercise of this course needs any of that. So the grader reads the code the student wrote (cells
that differ from the instructor's) and, if it uses one of the constructs below, the submission
scores 0 with ``needs_manual_grade`` set in the gradebook, and the detail names the construct
and the cell, so an instructor can look and regrade by hand.

Flagged:
* names: ``get_ipython``, ``__builtins__``, ``__import__``, ``exec``, ``eval``, ``compile``,
  ``globals``, ``vars``, ``breakpoint``;
* imports of ``builtins``, ``ctypes``, ``gc``, ``importlib``, ``inspect``, ``IPython``,
  ``ipykernel``, ``marshal``, ``unittest.mock``, ``lstm_course.instructor.grading``;
* ``sys.modules``, ``sys._getframe``, ``sys.settrace``/``setprofile``, ``sys.meta_path``,
  ``sys.path_hooks``, ``sys.addaudithook``;
* attributes with double underscores other than the harmless ones (``__code__``, ``__globals__``,
  ``__dict__``, ``__subclasses__``, ...), and assigning ``__class__``;
* assigning to (or ``setattr``/``delattr`` on) an attribute of an imported module, such as
  ``np.allclose = ...`` or ``checks.check_close = ...``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nbformat import NotebookNode

FLAGGED_NAMES = {
    "get_ipython",
    "__builtins__",
    "__import__",
    "exec",
    "eval",
    "compile",
    "globals",
    "vars",
    "breakpoint",
}
FLAGGED_MODULES = {
    "builtins",
    "ctypes",
    "_ctypes",
    "gc",
    "importlib",
    "inspect",
    "IPython",
    "ipykernel",
    "marshal",
    "unittest.mock",
    "lstm_course.instructor.grading",
    "cffi",
}
FLAGGED_SYS = {
    "modules",
    "_getframe",
    "settrace",
    "setprofile",
    "meta_path",
    "path_hooks",
    "addaudithook",
    "path_importer_cache",
}
HARMLESS_DUNDERS = {
    "__init__",
    "__name__",
    "__qualname__",
    "__doc__",
    "__class__",
    "__version__",
    "__len__",
    "__call__",
    "__repr__",
    "__str__",
    "__module__",
    "__file__",
    "__iter__",
    "__next__",
    "__getitem__",
    "__contains__",
    "__enter__",
    "__exit__",
    "__post_init__",
}
_GET_IPYTHON = re.compile(r"\bget_ipython\b")


@dataclass(frozen=True)
class Finding:
    cell: str  # how to name the cell: its grade id or its position
    construct: str  # what was found, e.g. "`sys.modules`"

    def __str__(self) -> str:
        return f"{self.construct} in cell {self.cell}"


def _module_names(trees: list[ast.AST]) -> set[str]:
    """Names bound to modules by import statements anywhere in the notebook."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    names.add(alias.asname or alias.name)
    return names


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _transform(source: str) -> str:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        return source


def scan_tree(tree: ast.AST, modules: set[str]) -> list[str]:
    found: list[str] = []

    def flag(what: str) -> None:
        if what not in found:
            found.append(what)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FLAGGED_NAMES and node.id != "get_ipython":
            flag(f"`{node.id}`")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if any(alias.name == m or alias.name.startswith(m + ".") for m in FLAGGED_MODULES):
                    flag(f"`import {alias.name}`")
        elif isinstance(node, ast.ImportFrom) and node.module:
            full = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            if any(f == m or f.startswith(m + ".") for f in full for m in FLAGGED_MODULES):
                flag(f"`from {node.module} import ...`")
        elif isinstance(node, ast.Attribute):
            if _dotted(node.value) == "sys" and node.attr in FLAGGED_SYS:
                flag(f"`sys.{node.attr}`")
            elif node.attr.startswith("__") and node.attr.endswith("__"):
                if node.attr not in HARMLESS_DUNDERS or (
                    node.attr == "__class__" and isinstance(node.ctx, ast.Store)
                ):
                    flag(f"`.{node.attr}`")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and _root_name(node.value) in modules:
                flag(f"an assignment to `{_dotted(node)}`")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
        ):
            target = node.args[0]
            if _root_name(target) in modules:
                flag(f"`{node.func.id}({_dotted(target)}, ...)`")
            if (
                len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and node.args[1].value.startswith("__")
            ):
                flag(f"`{node.func.id}(..., {node.args[1].value!r})`")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.startswith("__")
            and node.args[1].value not in HARMLESS_DUNDERS
        ):
            flag(f"`getattr(..., {node.args[1].value!r})`")
    return found


def scan_notebook(nb: NotebookNode, instructor_sources: set[str]) -> list[Finding]:
    """Findings in the code cells the student wrote or changed (not the instructor's cells)."""
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    trees = {}
    for i, cell in cells:
        try:
            trees[i] = ast.parse(_transform(cell.source))
        except (SyntaxError, ValueError):
            trees[i] = None
    modules = _module_names([t for t in trees.values() if t is not None])
    findings = []
    for i, cell in cells:
        if cell.source.strip() in instructor_sources:
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        label = f"`{gid}`" if gid else str(i + 1)
        if _GET_IPYTHON.search(cell.source):
            findings.append(Finding(label, "`get_ipython`"))
        if trees[i] is None:
            continue
        findings += [Finding(label, what) for what in scan_tree(trees[i], modules)]
    return findings
