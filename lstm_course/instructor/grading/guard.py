"""Runs inside a sandboxed kernel: keep the tests' tools genuine while the tests run.

Installed from an IPython startup file, before any cell of the submission runs, it imports the
modules the chapter's tests use (``lstm_course.teach.checks``, the reference modules such as
``lstm_course.scratch.rnn``, NumPy, PyTorch) and records what they hold. Then, around every test
cell the grader named (by the hash of its source):

* before it runs, everything recorded is put back: module attributes (``np.allclose``,
  ``checks.check_close``, ``ref.rnn_step``, ...), the code, defaults and closures of the course's
  functions, the methods of the course's classes and of ``torch.Tensor``/``torch.nn.Module``,
  ``sys.modules`` entries, the builtins, and the names the chapter imports into the notebook
  (``checks``, ``ref``, ``np``, ...), unless the exercise itself defines that name;
* after it ran, the same things are compared with the record; if the submission changed any of
  them while the test ran, the cell fails with a :class:`GuardError` that names what changed.

So monkeypatching a comparison or a reference function, rebinding ``checks`` or ``ref``, or
patching from inside the learner's function while the test calls it, cannot turn a wrong answer
into points. This is a guard against the usual tricks, not a security boundary: code that rewrites
the interpreter can fool anything in its own process. The sandbox around the kernel is what
protects the machine, and :mod:`lstm_course.instructor.grading.scan` flags submissions that reach for the
interpreter's internals.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import sys
import types

#: Names IPython itself changes in builtins while it runs cells.
_VOLATILE_BUILTINS = frozenset(
    {
        "_",
        "__",
        "___",
        "exit",
        "quit",
        "get_ipython",
        "display",
        "__IPYTHON__",
        "__IPYTHON__active",
        "dreload",
        "__builtins__",
        "_ih",
        "_oh",
        "_dh",
        "In",
        "Out",
    }
)
#: Modules whose attributes are restored and checked (when imported at install time).
_ALWAYS = (
    "lstm_course",
    "lstm_course.teach.checks",
    "numpy",
    "numpy.linalg",
    "numpy.random",
    "numpy.testing",
    "builtins",
)
_TORCH = ("torch", "torch.nn", "torch.nn.functional", "torch.testing", "torch.linalg")

_dict_items = dict.items
_hash = hashlib.sha256
_type = type


class GuardError(AssertionError):
    """A test cell cannot be trusted: the submission changed the tools it tests with."""


def _own_module(obj, prefixes: tuple[str, ...]) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] in prefixes


class _Snapshot:
    def __init__(
        self,
        modules: dict[str, types.ModuleType],
        bindings: list[tuple[str, str, str | None]],
        keep_names: set[str],
    ):
        self.modules = modules
        self.torch_wrapper_code = _torch_wrapper_code(modules)
        self.module_dicts = {name: dict(vars(mod)) for name, mod in modules.items()}
        self.functions: dict[int, tuple] = {}
        self.classes: dict[int, tuple] = {}
        prefixes = ("lstm_course",)
        for name, mod in modules.items():
            is_course = name.split(".")[0] == "lstm_course"
            for value in list(vars(mod).values()):
                if isinstance(value, types.FunctionType) and (
                    is_course or _own_module(value, ("numpy", "torch"))
                ):
                    self._record_function(value)
                    impl = getattr(value, "_implementation", None)
                    if isinstance(impl, types.FunctionType):
                        self._record_function(impl)
                elif isinstance(value, type) and _own_module(value, prefixes):
                    self._record_class(value)
        if "torch" in modules:
            torch = modules["torch"]
            for cls in (torch.Tensor, torch.nn.Module, torch.nn.Parameter):
                self._record_class(cls)
        self.bindings = []
        for name, module, attr in bindings:
            if name in keep_names or module not in modules:
                continue
            value = modules[module] if attr is None else self.module_dicts[module].get(attr, _MISSING)
            if value is not _MISSING:
                self.bindings.append((name, value))

    def _record_function(self, f: types.FunctionType) -> None:
        cells = tuple(c.cell_contents if _has_contents(c) else _MISSING for c in (f.__closure__ or ()))
        self.functions[id(f)] = (f, f.__code__, f.__defaults__, f.__kwdefaults__, cells)

    def _record_class(self, cls: type) -> None:
        if id(cls) in self.classes:
            return
        self.classes[id(cls)] = (cls, dict(vars(cls)), cls.__bases__)
        for value in list(vars(cls).values()):
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                for f in (value.fget, value.fset, value.fdel):
                    if isinstance(f, types.FunctionType):
                        self._record_function(f)
            elif isinstance(value, types.FunctionType):
                self._record_function(value)

    def _library_wrapper(self, module: str, key: str, new, old) -> bool:
        """Whether ``new`` is torch's own wrapper around ``old`` (``torch.manual_seed``, wrapped by
        ``import torch._dynamo``, which the first optimizer step triggers).

        Recognised by identity, never by anything a submission could make: a plain function
        whose code object *is* the one torch's ``_disable_dynamo`` holds (recorded before any
        cell ran) and whose closure holds the very function it replaces. A wrapper that the
        notebook writes, even with ``functools.wraps`` and a forged ``co_filename``
        (``CodeType.replace``), has other code and is not accepted.
        """
        return (
            module == "torch"
            and key == "manual_seed"
            and self.torch_wrapper_code is not None
            and _type(new) is types.FunctionType
            and new.__code__ is self.torch_wrapper_code
            and _closure_value(new, "fn") is old
        )

    # -- restore -------------------------------------------------------------------------
    def _changed_module_entries(self):
        """(module name, key, snapshot value, live dict) of every module global that changed.

        The one library change that is not the submission's (``import torch._dynamo`` wraps
        ``torch.manual_seed``) is accepted, and the snapshot takes the wrapper.
        """
        for name, mod in _dict_items(self.modules):
            live = vars(mod)
            snapshot = self.module_dicts[name]
            for key, value in list(_dict_items(snapshot)):
                if name == "builtins" and key in _VOLATILE_BUILTINS:
                    continue
                current = live.get(key, _MISSING)
                if current is value:
                    continue
                if self._library_wrapper(name, key, current, value):
                    snapshot[key] = current
                else:
                    yield name, key, value, live

    def restore(self, user_ns: dict) -> None:
        for name, mod in _dict_items(self.modules):
            if sys.modules.get(name) is not mod:
                sys.modules[name] = mod
        for _, key, value, live in self._changed_module_entries():
            live[key] = value
        for f, code, defaults, kwdefaults, cells in self.functions.values():
            if f.__code__ is not code:
                f.__code__ = code
            if f.__defaults__ is not defaults:
                f.__defaults__ = defaults
            if f.__kwdefaults__ is not kwdefaults:
                f.__kwdefaults__ = kwdefaults
            for cell, value in zip(f.__closure__ or (), cells, strict=False):
                if value is not _MISSING and (not _has_contents(cell) or cell.cell_contents is not value):
                    cell.cell_contents = value
        for cls, attrs, bases in self.classes.values():
            if cls.__bases__ is not bases:
                try:
                    cls.__bases__ = bases
                except TypeError:
                    pass
            live = vars(cls)
            for key, value in _dict_items(attrs):
                if live.get(key, _MISSING) is not value:
                    try:
                        setattr(cls, key, value)
                    except (TypeError, AttributeError):
                        pass
            for key in [k for k in live if k not in attrs]:
                try:
                    delattr(cls, key)
                except (TypeError, AttributeError):
                    pass
        for name, value in self.bindings:
            user_ns[name] = value

    # -- compare -------------------------------------------------------------------------
    def changes(self, user_ns: dict) -> list[str]:
        out = []
        for name, mod in _dict_items(self.modules):
            if sys.modules.get(name) is not mod:
                out.append(f"sys.modules[{name!r}]")
        out.extend(f"{name}.{key}" for name, key, _, _ in self._changed_module_entries())
        for f, code, defaults, kwdefaults, cells in self.functions.values():
            closure_changed = any(
                value is not _MISSING and (not _has_contents(c) or c.cell_contents is not value)
                for c, value in zip(f.__closure__ or (), cells, strict=False)
            )
            if (
                f.__code__ is not code
                or f.__defaults__ is not defaults
                or f.__kwdefaults__ is not kwdefaults
                or closure_changed
            ):
                out.append(f"{f.__module__}.{f.__qualname__}")
        for cls, attrs, bases in self.classes.values():
            live = vars(cls)
            if (
                cls.__bases__ is not bases
                or any(live.get(k, _MISSING) is not v for k, v in _dict_items(attrs))
                or any(k not in attrs for k in live)
            ):
                out.append(f"{cls.__module__}.{cls.__qualname__}")
        for name, value in self.bindings:
            if user_ns.get(name, _MISSING) is not value:
                out.append(f"the notebook's name `{name}`")
        return out


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _torch_wrapper_code(modules: dict[str, types.ModuleType]) -> types.CodeType | None:
    """The code of the wrapper ``torch._disable_dynamo`` makes, taken from torch itself before
    any cell of the submission ran (so the submission cannot have made or replaced it)."""
    compile_module = sys.modules.get("torch._compile") if "torch" in modules else None
    factory = getattr(compile_module, "_disable_dynamo", None)
    if _type(factory) is not types.FunctionType:
        return None
    inner = [c for c in factory.__code__.co_consts if _type(c) is types.CodeType and c.co_name == "inner"]
    return inner[0] if len(inner) == 1 else None


def _closure_value(f: types.FunctionType, name: str):
    code = f.__code__
    if name not in code.co_freevars or f.__closure__ is None:
        return _MISSING
    cell = f.__closure__[code.co_freevars.index(name)]
    return cell.cell_contents if _has_contents(cell) else _MISSING


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def source_hash(source: str) -> str:
    """How the grader and the guard name a test cell: the SHA-256 of its source."""
    return _hash(source.strip().encode("utf-8")).hexdigest()


def install(config_path: str, shell=None) -> _Snapshot:
    """Import the protected modules, record them, and hook into the IPython shell."""
    with open(config_path) as f:
        config = json.load(f)
    wanted = list(_ALWAYS) + list(config.get("modules", []))
    if config.get("torch", True):
        wanted += list(_TORCH)
    modules: dict[str, types.ModuleType] = {}
    for name in wanted:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module the chapter does not need
            continue
    # Every course module imported by now (submodules the chapter's imports pulled in).
    for name, mod in list(sys.modules.items()):
        if (
            name.split(".")[0] == "lstm_course"
            and isinstance(mod, types.ModuleType)
            and not name.startswith("lstm_course.instructor.grading")
        ):
            modules.setdefault(name, mod)
    modules["builtins"] = builtins
    bindings = [tuple(b) for b in config.get("bindings", [])]
    snapshot = _Snapshot(modules, bindings, set(config.get("keep_names", [])))
    test_cells = frozenset(config.get("test_cells", []))
    shell = shell or get_ipython_shell()
    state = {"active": False}

    def pre_run_cell(info) -> None:
        state["active"] = source_hash(info.raw_cell or "") in test_cells
        if state["active"]:
            snapshot.restore(shell.user_ns)

    def post_run_cell(result) -> None:
        if not state["active"]:
            return
        state["active"] = False
        changed = snapshot.changes(shell.user_ns)
        if not changed:
            return
        shown = ", ".join(f"`{c}`" for c in changed[:3]) + (" and more" if len(changed) > 3 else "")
        err = GuardError(
            f"The notebook changed {shown} while this test ran, so the test cannot be trusted "
            "and earns no points. Do not modify the course's tools, NumPy or PyTorch."
        )
        snapshot.restore(shell.user_ns)
        result.error_in_exec = err
        shell.showtraceback((GuardError, err, None))

    shell.events.register("pre_run_cell", pre_run_cell)
    shell.events.register("post_run_cell", post_run_cell)
    return snapshot


def get_ipython_shell():
    from IPython import get_ipython

    return get_ipython()
