"""Read, recognise and repair a submitted notebook before nbgrader sees it.

nbgrader restores locked cells and test code from its gradebook, but it stops on notebooks whose
metadata is broken, and it gives full marks to a test cell that is missing. This module:

* reads the file (size limit, JSON, notebook schema) and says in plain words what is wrong;
* recognises whether the notebook is this chapter's (and which chapter it looks like if not);
* puts back what the student deleted or broke: nbgrader metadata (by cell id or grade id), and
  missing exercise and test cells (as in the released notebook, so nbgrader then restores the
  hidden tests), so that every test runs;
* works out, from the instructor's source notebook, the names its import cells bind (for the
  test guard) and the names its exercises define (which the guard must leave alone).
"""

from __future__ import annotations

import ast
import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

#: A chapter notebook is well under a megabyte; anything this big is not a real submission.
MAX_NOTEBOOK_BYTES = 20 * 1024**2


class SubmissionProblem(Exception):
    """The submission cannot be graded; the message is the row's detail."""


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> NotebookNode:
    """The submission as a v4 notebook, or :class:`SubmissionProblem` saying what is wrong."""
    size = path.stat().st_size
    if size == 0:
        raise SubmissionProblem("the file is empty")
    if size > max_bytes:
        raise SubmissionProblem(
            f"the file is {size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB a notebook may be"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionProblem("the file is not a valid notebook (it is not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SubmissionProblem(
            f"the file is not a valid notebook (broken JSON at line {err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
        raise SubmissionProblem("the file is not a valid notebook (JSON, but without notebook cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds
        raise SubmissionProblem(f"the file is not a valid notebook ({type(err).__name__})") from None
    cells = []
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            src = ""
        cell["source"] = src
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    nb.cells = cells
    if not isinstance(nb.get("metadata"), dict):
        nb.metadata = NotebookNode()
    _fix_ids(nb)
    try:
        _, normalized = nbformat.validator.normalize(nb, strip_invalid_metadata=True)
        nb = nbformat.from_dict(normalized)
    except Exception:  # noqa: BLE001 - we repair what matters below; nbgrader validates again
        pass
    return nb


def _fix_ids(nb: NotebookNode) -> None:
    """Every cell gets a unique id (nbformat 4.5); duplicated or missing ids are replaced."""
    nb.nbformat, nb.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5) or 5))
    seen: set[str] = set()
    for cell in nb.cells:
        cid = cell.get("id")
        if not isinstance(cid, str) or not cid or cid in seen or len(cid) > 64:
            cid = uuid.uuid4().hex[:12]
            cell["id"] = cid
        seen.add(cid)


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


@dataclass
class ChapterSource:
    """What the grader knows about a chapter: its answer key and its released notebook."""

    name: str
    source: NotebookNode
    released: NotebookNode
    cells: dict[str, NotebookNode] = field(default_factory=dict)  # grade_id -> source cell
    released_cells: dict[str, NotebookNode] = field(default_factory=dict)  # grade_id -> released cell
    order: list[str] = field(default_factory=list)  # grade ids in order
    by_cell_id: dict[str, str] = field(default_factory=dict)  # cell id -> grade_id

    @classmethod
    def load(cls, root: Path, chapter: str) -> ChapterSource:
        source = nbformat.read(root / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
        released_path = root / "chapters" / chapter / f"{chapter}.ipynb"
        released = nbformat.read(released_path, as_version=4) if released_path.exists() else source
        self = cls(chapter, source, released)
        for cell in source.cells:
            gid = _meta(cell).get("grade_id")
            if gid:
                self.cells[gid] = cell
                self.order.append(gid)
                if cell.get("id"):
                    self.by_cell_id[cell["id"]] = gid
        for cell in released.cells:
            gid = _meta(cell).get("grade_id")
            if gid:
                self.released_cells[gid] = cell
        return self

    @property
    def exercises(self) -> list[str]:
        return [gid for gid in self.order if _meta(self.cells[gid]).get("solution")]

    @property
    def tests(self) -> list[str]:
        return [gid for gid in self.order if _meta(self.cells[gid]).get("grade")]

    def instructor_sources(self) -> set[str]:
        return {
            c.source.strip() for nb in (self.source, self.released) for c in nb.cells if c.cell_type == "code"
        }


def recognise(nb: NotebookNode, chapter: ChapterSource, others: list[ChapterSource]) -> None:
    """Raise :class:`SubmissionProblem` unless ``nb`` is a notebook of ``chapter``."""
    present = {_meta(c).get("grade_id") for c in nb.cells} | {
        chapter.by_cell_id.get(c.get("id")) for c in nb.cells
    }
    if present & set(chapter.order):
        return
    for other in others:
        theirs = {_meta(c).get("grade_id") for c in nb.cells} | {
            other.by_cell_id.get(c.get("id")) for c in nb.cells
        }
        if theirs & set(other.order):
            raise SubmissionProblem(f"this is a notebook of {other.name}, not {chapter.name}")
    names = ", ".join(chapter.exercises[:3])
    raise SubmissionProblem(
        f"this is not the {chapter.name} notebook: none of its exercises ({names}, ...) are in it"
    )


def repair(nb: NotebookNode, chapter: ChapterSource) -> list[str]:
    """Fix nbgrader metadata and put back deleted exercise/test cells. Returns what was done."""
    notes: list[str] = []
    known = chapter.cells
    assigned: list[str | None] = []
    for cell in nb.cells:
        raw = cell.get("metadata", {}).get("nbgrader")
        gid = raw.get("grade_id") if isinstance(raw, dict) else None
        if gid is not None and gid not in known:
            gid = None  # an id this chapter does not have: an ordinary cell
        if gid is None and cell.get("id") in chapter.by_cell_id:
            gid = chapter.by_cell_id[cell["id"]]  # metadata deleted or broken: recognised by cell id
        assigned.append(gid)
    last = {gid: i for i, gid in enumerate(assigned) if gid is not None}
    for i, (cell, gid) in enumerate(zip(nb.cells, assigned, strict=True)):
        if gid is not None and last[gid] != i:
            gid = None  # a duplicate: like nbgrader, the last copy keeps the metadata
        if gid is None:
            if "nbgrader" in cell.get("metadata", {}):
                del cell["metadata"]["nbgrader"]  # nbgrader would stop on it
            continue
        expected = _meta(chapter.released_cells.get(gid) or known[gid])
        if cell.get("cell_type") != known[gid].cell_type or _meta(cell) != expected:
            cell["metadata"]["nbgrader"] = NotebookNode(copy.deepcopy(dict(expected)))
            if cell.get("cell_type") != known[gid].cell_type:
                notes.append(f"cell {gid} had its type changed")
    # Deleted cells: insert the released version after the previous cell of the chapter.
    position = {(_meta(c).get("grade_id")): i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id")}
    inserted = 0
    for k, gid in enumerate(chapter.order):
        if gid in position:
            continue
        cell = copy.deepcopy(chapter.released_cells.get(gid) or known[gid])
        prev = [position[g] for g in chapter.order[:k] if g in position]
        at = (max(prev) + 1) if prev else 0
        nb.cells.insert(
            at,
            nbformat.v4.new_code_cell(cell.source, metadata=cell.metadata)
            if cell.cell_type == "code"
            else nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata),
        )
        for g in position:
            if position[g] >= at:
                position[g] += 1
        position[gid] = at
        inserted += 1
        notes.append(f"cell {gid} was missing and was put back")
    if inserted:
        _fix_ids(nb)
    return notes


# -- names for the test guard ------------------------------------------------------------------
def _parse(source: str) -> ast.Module | None:
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _defined_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def guard_config(chapter: ChapterSource) -> dict:
    """Modules to protect and notebook names to rebind before each test (see :mod:`guard`)."""
    bindings: list[tuple[str, str, str | None]] = []
    modules: list[str] = []
    keep: set[str] = set()
    uses_torch = False
    for cell in chapter.source.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        if _meta(cell).get("solution"):
            keep |= _defined_names(tree)
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    modules.append(alias.name)
                    if alias.asname:
                        bindings.append((alias.asname, alias.name, None))
                    else:
                        top = alias.name.split(".")[0]
                        bindings.append((top, top, None))
                        modules.append(top)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.append(node.module)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    modules.append(f"{node.module}.{alias.name}")
                    bindings.append((alias.asname or alias.name, node.module, alias.name))
        uses_torch = uses_torch or "torch" in cell.source
    modules = [m for m in dict.fromkeys(modules)]
    return {"modules": modules, "bindings": bindings, "keep_names": sorted(keep), "torch": uses_torch}
