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
  ``np.allclose = ...`` or ``checks.check_close = ...``;
* ``getattr``/``setattr``/``delattr``/``attrgetter`` with a name computed at run time (not a
  string constant) on a protected object: an imported module or anything imported from one, a
  function the notebook defines, or a plain alias of those (``f = checks.check_close``,
  ``tools = [checks, ref]``), and any computed name that folds to a double-underscore one
  (``getattr(f, "__co" + "de__")``).
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


def _base_name(node: ast.AST) -> str | None:
    """The name an expression such as ``tools[0].x`` starts from (through subscripts)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _static_str(node: ast.AST) -> str | None:
    """The value of a string expression made of constants only (``"__co" + "de__"``), else None."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _static_str(node.left), _static_str(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.FormattedValue) and node.conversion == -1 and node.format_spec is None:
        return _static_str(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [_static_str(v) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    return None


def _references_only(node: ast.AST, protected: set[str]) -> bool:
    """Whether ``node`` merely refers to protected objects (a name, an attribute, a list of
    them), as an alias does, rather than computing something new from them."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return any(_references_only(e, protected) for e in node.elts)
    if isinstance(node, ast.Dict):
        return any(v is not None and _references_only(v, protected) for v in node.values)
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Starred)):
        return _base_name(node) in protected
    return False


def _protected_names(trees: list[ast.AST], modules: set[str]) -> set[str]:
    """Imported modules and names, functions the notebook defines, and aliases of these."""
    protected = set(modules)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                protected.add(node.name)
    for _ in range(5):  # aliases of aliases
        before = len(protected)
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign):
                    value, targets = node.value, node.targets
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    value, targets = node.value, [node.target]
                elif isinstance(node, (ast.For, ast.comprehension)):
                    value, targets = node.iter, [node.target]
                else:
                    continue
                if _references_only(value, protected):
                    for target in targets:
                        protected.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        if len(protected) == before:
            break
    return protected


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


def scan_tree(tree: ast.AST, modules: set[str], protected: set[str] | None = None) -> list[str]:
    found: list[str] = []
    protected = modules if protected is None else protected

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
        elif isinstance(node, ast.Call) and _call_name(node) in ("setattr", "delattr", "getattr"):
            func = _call_name(node)
            target = node.args[0] if node.args else None
            if func != "getattr" and target is not None and _root_name(target) in modules:
                flag(f"`{func}({_dotted(target)}, ...)`")
            name = node.args[1] if len(node.args) > 1 else None
            value = _static_str(name) if name is not None else None
            if value is not None:
                if value.startswith("__") and (func != "getattr" or value not in HARMLESS_DUNDERS):
                    flag(f"`{func}(..., {value!r})`")
            elif name is not None and target is not None and _base_name(target) in protected:
                flag(f"`{func}({_base_name(target)}..., <a name computed at run time>)`")
        elif isinstance(node, ast.Call) and _call_name(node) == "attrgetter":
            for arg in node.args:
                value = _static_str(arg)
                if value is None or "__" in value:
                    flag("`attrgetter` with a computed or double-underscore name")
    return found


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and _dotted(func.value) in ("builtins", "operator"):
        return func.attr
    return None


def scan_notebook(nb: NotebookNode, instructor_sources: set[str]) -> list[Finding]:
    """Findings in the code cells the student wrote or changed (not the instructor's cells)."""
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    trees = {}
    for i, cell in cells:
        try:
            trees[i] = ast.parse(_transform(cell.source))
        except (SyntaxError, ValueError):
            trees[i] = None
    parsed = [t for t in trees.values() if t is not None]
    modules = _module_names(parsed)
    protected = _protected_names(parsed, modules)
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
        findings += [Finding(label, what) for what in scan_tree(trees[i], modules, protected)]
    return findings
