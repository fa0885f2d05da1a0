"""Run only what the grade needs: which cells of a submission the fast grading run skips.

A chapter notebook is mostly demonstrations (training runs, figures) that no test reads. At
grading time the fast run leaves them out. What may be left out is decided once per chapter by a
static check over the answer key (``solutions/<ch>/<ch>.ipynb``):

* always kept: the exercise cells (solution and test cells, hidden tests included), the first code
  cell (the imports), and every cell whose names cannot be read statically (``exec``, ``eval``,
  ``globals()``, cell magics, a ``*`` import, code that does not parse);
* then, until nothing changes, every cell that binds a name a kept cell after it reads from outside
  itself (assigns, defines, imports or deletes it, or changes it in place: ``model.w = ...``,
  ``d[k] = ...``, ``x += ...``, ``model.train()``, or passes it to a call, which may change it),
  and so what that cell reads in turn. A name counts for every cell that binds it, not just the last.
  Names read inside a function or lambda are read when it is called, so for them a binding cell
  anywhere counts, before or after;
* if a kept cell reads names dynamically (``globals()``, ``exec``...), nothing is skipped.

So no test or solution cell of the answer key reads a name that only a skipped cell binds
(:func:`violations` checks exactly that). What a static check cannot see (the random number
generator's state, files a demonstration writes) is checked by running: the answer key must earn
full marks and the student version 0, fast and full (``tests/test_grade_fast.py``).

In a submission, a cell is skipped only when it is one of these demonstration cells (by cell
id) and unchanged; cells a student added or edited always run. If a test cell of the fast run
fails with a ``NameError`` for a name a skipped cell binds, or with an ``AttributeError``, the
submission is graded again in full (:func:`needs_full_run`) and its row says so.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field

from nbformat import NotebookNode

#: Calls that read or write names the static check cannot see.
DYNAMIC_CALLS = {"exec", "eval", "globals", "locals", "vars", "__import__", "compile", "execfile"}
#: Line magics that neither read nor bind notebook names.
HARMLESS_MAGICS = {"matplotlib", "config", "load_ext", "autoreload", "precision"}
#: Errors in a fast run's test cell that may come from a skipped cell.
SUSPECT_ERRORS = ("NameError", "AttributeError")
_NAME_ERROR = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


@dataclass
class CellNames:
    """The names one code cell binds and the names it reads from outside itself."""

    binds: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)  # names it may change in place
    imports: set[str] = field(default_factory=set)  # names it binds by importing
    later: set[str] = field(default_factory=set)  # read by its functions and lambdas, when called
    dynamic: bool = False  # reads or binds names the check cannot see


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _root(node: ast.AST) -> str | None:
    """``model`` for ``model.layer.weight[0]``; None when the base is not a plain name."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Walker:
    """Sequential walk of one cell: a name is read from outside when it is loaded before the cell
    binds it (function and comprehension bodies: unless local to them)."""

    def __init__(self) -> None:
        self.out = CellNames()
        self.bound: set[str] = set()

    # -- binding ---------------------------------------------------------------------------
    def bind(self, name: str | None) -> None:
        if name:
            self.out.binds.add(name)
            self.bound.add(name)

    def mutate(self, node: ast.AST) -> None:
        """``node`` (a target or an argument) may be changed in place: its root name is bound."""
        name = _root(node)
        if name:
            self.read_name(name)
            self.out.mutates.add(name)

    def target(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.target(elt)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        else:  # attribute or subscript: its parts are read, its root is changed
            self.expr(node, store=True)
            self.mutate(node)

    # -- reading ---------------------------------------------------------------------------
    def read_name(self, name: str) -> None:
        if name not in self.bound:
            self.out.reads.add(name)

    def expr(self, node: ast.AST | None, local: frozenset[str] = frozenset(), store: bool = False) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in local:
                self.read_name(node.id)
            return
        if isinstance(node, ast.Lambda):
            args = _arg_names(node.args)
            self._defaults(node.args, local)
            self.expr(node.body, local | args)
            self.out.later |= {n.id for n in ast.walk(node.body) if isinstance(n, ast.Name)} - args
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = set(local)
            for gen in node.generators:
                self.expr(gen.iter, frozenset(inner))
                inner |= _store_names(gen.target)
                for cond in gen.ifs:
                    self.expr(cond, frozenset(inner))
            for part in ("elt", "key", "value"):
                self.expr(getattr(node, part, None), frozenset(inner))
            return
        if isinstance(node, ast.NamedExpr):
            self.expr(node.value, local)
            self.bind(node.target.id)
            return
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in DYNAMIC_CALLS:
                self.out.dynamic = True
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Call):
                inner = fn.value.func
                if isinstance(inner, ast.Name) and inner.id == "get_ipython":
                    magic = node.args[0] if node.args else None
                    name = magic.value if isinstance(magic, ast.Constant) else None
                    if fn.attr != "run_line_magic" or name not in HARMLESS_MAGICS:
                        self.out.dynamic = True
            self.expr(fn, local)
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self.expr(arg, local)
                if not local.intersection({_root(arg)}):
                    self.mutate(arg)  # a call may change what it is given
            if isinstance(fn, ast.Attribute) and not local.intersection({_root(fn.value)}):
                self.mutate(fn.value)  # model.train(), xs.append(...)
            return
        for child in ast.iter_child_nodes(node):
            self.expr(child, local)

    def _defaults(self, args: ast.arguments, local: frozenset[str]) -> None:
        for d in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.expr(d, local)

    # -- statements ------------------------------------------------------------------------
    def stmts(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in s.decorator_list:
                self.expr(d)
            self._defaults(s.args, frozenset())
            self._function(s.body, _arg_names(s.args))
            self.bind(s.name)
        elif isinstance(s, ast.ClassDef):
            for d in [*s.decorator_list, *s.bases, *(k.value for k in s.keywords)]:
                self.expr(d)
            self._function(s.body, frozenset())
            self.bind(s.name)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            for alias in s.names:
                if alias.name == "*":
                    self.out.dynamic = True
                else:
                    self.bind((alias.asname or alias.name).split(".")[0])
                    self.out.imports.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(s, ast.Assign):
            self.expr(s.value)
            for t in s.targets:
                self.target(t)
        elif isinstance(s, (ast.AugAssign, ast.AnnAssign)):
            self.expr(s.value)
            if isinstance(s, ast.AugAssign):
                self.mutate(s.target)
            self.target(s.target)
        elif isinstance(s, (ast.For, ast.AsyncFor)):
            self.expr(s.iter)
            self.target(s.target)
            self.stmts(s.body)
            self.stmts(s.orelse)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.stmts(s.body)
        elif isinstance(s, (ast.If, ast.While)):
            self.expr(s.test)
            self.stmts(s.body)
            self.stmts(s.orelse)
        elif isinstance(s, ast.Try) or type(s).__name__ == "TryStar":
            self.stmts(s.body)
            for h in s.handlers:
                self.expr(h.type)
                self.bind(h.name)
                self.stmts(h.body)
            self.stmts(s.orelse)
            self.stmts(s.finalbody)
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                if isinstance(t, ast.Name):
                    self.out.binds.add(t.id)
                else:
                    self.target(t)
        elif isinstance(s, ast.Global):
            self.out.dynamic = True  # only inside functions; at top level it means nothing we model
        else:
            for child in ast.iter_child_nodes(s):
                self.expr(child)

    def _function(self, body: list[ast.stmt], params: frozenset[str]) -> None:
        """A function or class body: what it loads and does not bind itself is read from outside
        (even when this cell binds it later: conservative); ``global`` names it assigns are bound."""
        local = set(params)
        declared_global: set[str] = set()
        for node in ast.walk(ast.Module(body=body, type_ignores=[])):
            if isinstance(node, ast.Global):
                declared_global |= set(node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                local.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                local.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                local.add(node.name)
            elif isinstance(node, ast.arg):
                local.add(node.arg)
        for name in declared_global:
            local.discard(name)
            self.out.binds.add(name)
        inner = _Walker()
        inner.bound = set(local)
        inner.stmts(body)
        self.out.dynamic |= inner.out.dynamic
        for name in inner.out.reads:
            if name not in self.bound:
                self.out.reads.add(name)
        # read when the function is called, whatever this cell bound before: any cell may change them
        self.out.later |= inner.out.reads | inner.out.later
        # in-place changes a function makes to outside names happen when it is called: the
        # function's own name stands for them (a cell calling it passes through `mutate`)
        self.out.mutates |= {n for n in inner.out.binds | inner.out.mutates if n not in local}


def _arg_names(args: ast.arguments) -> frozenset[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return frozenset(a.arg for a in every)


def _store_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def cell_names(source: str) -> CellNames:
    """What a cell's code binds and reads (IPython syntax understood); see :class:`CellNames`."""
    from lstm_course.instructor.grading.notebook import _parse

    tree = _parse(source)
    if tree is None:
        return CellNames(dynamic=True)
    walker = _Walker()
    walker.stmts(tree.body)
    return walker.out


@dataclass
class Plan:
    """Which code cells of the answer key the fast run skips (by cell id)."""

    skip: dict[str, str]  # cell id -> its source in the answer key
    kept: list[str]  # cell ids of the code cells that run
    names: dict[str, CellNames]  # cell id -> its names
    writes: dict[str, set[str]] = field(default_factory=dict)  # cell id -> names it binds or changes
    reason: str = ""  # why nothing is skipped, when that is so


def _first_code(nb: NotebookNode) -> int | None:
    from lstm_course.instructor.release import COLAB_CELL_ID

    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.get("id") != COLAB_CELL_ID and c.source.strip():
            return i
    return None


def plan(key: NotebookNode) -> Plan:
    """The fast run's plan for a chapter, from its answer key; see the module docstring."""
    code = [(i, c) for i, c in enumerate(key.cells) if c.cell_type == "code" and c.source.strip()]
    names = {c.get("id") or f"#{i}": cell_names(c.source) for i, c in code}
    ids = [c.get("id") or f"#{i}" for i, c in code]
    first = _first_code(key)
    # Calls on modules (`plt.show()`, `torch.manual_seed(0)`) do not count as changing them: the
    # module-level state they change (random generators) is what the run-both-ways test checks.
    modules = set().union(*(n.imports for n in names.values())) if names else set()
    writes = {cid: n.binds | (n.mutates - modules) for cid, n in names.items()}
    kept = {
        cid
        for cid, (i, c) in zip(ids, code, strict=True)
        if i == first or _meta(c).get("solution") or _meta(c).get("grade") or names[cid].dynamic
    }
    pos = {cid: k for k, cid in enumerate(ids)}
    changed = True
    while changed:
        changed = False
        later = set().union(*(names[q].later for q in kept)) if kept else set()
        for cid in ids:
            if cid in kept:
                continue
            after = set().union(*(names[q].reads for q in kept if pos[q] > pos[cid]))
            if writes[cid] & (after | later):
                kept.add(cid)
                changed = True
    if any(names[cid].dynamic for cid in kept):
        return Plan({}, ids, names, writes, "a kept cell reads or binds names dynamically (exec, globals())")
    skip = {cid: c.source for cid, (i, c) in zip(ids, code, strict=True) if cid not in kept}
    return Plan(skip, [cid for cid in ids if cid in kept], names, writes)


def violations(key: NotebookNode, p: Plan | None = None) -> list[str]:
    """Names a test or solution cell of the answer key reads that a skipped cell before it binds or
    changes, or that its functions read and any skipped cell binds (the static check; empty for
    every plan :func:`plan` makes)."""
    p = p or plan(key)
    order = list(p.names)
    out = []
    for c in key.cells:
        cid = c.get("id")
        if c.cell_type == "code" and (_meta(c).get("solution") or _meta(c).get("grade")) and cid in p.names:
            before = set().union(*(p.writes[s] for s in p.skip if order.index(s) < order.index(cid)))
            anywhere = set().union(*(p.writes[s] for s in p.skip))
            for name in sorted(p.names[cid].reads & before | p.names[cid].later & anywhere):
                out.append(f"{_meta(c).get('grade_id', cid)} reads {name}, which a skipped cell binds")
    return out


def prune(nb: NotebookNode, p: Plan) -> tuple[NotebookNode, list[str]]:
    """A copy of the submission without the demonstration cells the plan skips (by id, and only
    when unchanged), and the ids of the cells left out."""
    out = copy.copy(nb)
    cells, skipped = [], []
    for c in nb.cells:
        cid = c.get("id")
        if (
            c.get("cell_type") == "code"
            and cid in p.skip
            and not _meta(c)
            and c.get("source", "").strip() == p.skip[cid].strip()
        ):
            skipped.append(cid)
            continue
        cells.append(c)
    out.cells = cells
    return out, skipped


def needs_full_run(autograded: NotebookNode, p: Plan, skipped: list[str]) -> str | None:
    """Why a fast run's result cannot stand, or None: a cell (any cell: a solution cell that fails
    leaves its function undefined) failed with a NameError for a name a skipped cell binds, or a
    test cell failed with an AttributeError or a NameError whose name cannot be read."""
    if not skipped:
        return None
    lost = set().union(*(p.writes[cid] for cid in skipped if cid in p.writes))
    for i, c in enumerate(autograded.cells):
        if c.get("cell_type") != "code":
            continue
        test = bool(_meta(c).get("grade"))
        where = f"test {_meta(c).get('grade_id')}" if test else f"cell {_meta(c).get('grade_id') or i + 1}"
        for o in c.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            text = " ".join([o.get("ename", ""), o.get("evalue", ""), *o.get("traceback", [])])
            if test and "AttributeError" in text:
                return f"{where} failed with an AttributeError"
            if "NameError" in text:
                missing = _NAME_ERROR.findall(text)
                if lost.intersection(missing) or (test and not missing):
                    return f"{where} failed with a NameError ({', '.join(missing) or 'name unknown'})"
    return None
