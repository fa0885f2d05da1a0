"""Checks for the notebooks' tests, written the way a good TA grades.

Every failure says what was compared, by how much it missed (max absolute and relative
error), and, where the wrong answer matches a known mistake, which mistake it looks like.

The checks are hard to fool from inside the notebook: answers must be exactly the expected
type (an object whose ``==`` is always true fails), and values are compared with plain float
arithmetic on ``ndarray.tolist()``, so patching NumPy or PyTorch comparison functions
(``np.allclose``, ``torch.allclose``, ``np.testing``) changes nothing. The builtins used
here are bound when the module is imported, before any student code runs.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from lstm_course.teach import mistakes as _mistakes

_type, _len, _float, _isinstance, _repr = type, len, float, isinstance, repr
_tuple, _list, _zip, _range, _int = tuple, list, zip, range, int
_ndarray = np.ndarray
_tolist = np.ndarray.tolist
_copy = np.ndarray.copy
_AssertionError = AssertionError


class CheckFailed(_AssertionError):
    """A test of an exercise failed; the message is meant for the learner.

    ``mistake`` is the id of the named mistake the answer matched (None if none), and
    ``mistake_description`` its description, for the grader's class report (see
    :mod:`lstm_course.teach.mistakes`). Tests that raise it themselves may pass them too:
    ``CheckFailed("...", mistake="gate-order-ifog")``.
    """

    def __init__(self, *args, mistake: str | None = None, mistake_description: str | None = None):
        super().__init__(*args)
        self.mistake = mistake
        self.mistake_description = mistake_description


def _fail(message: str, description: str | None = None) -> None:
    if description is None:
        raise CheckFailed(message)
    raise CheckFailed(message, mistake=_mistakes.mistake_id(description),
                      mistake_description=str(description))


def _flatten(values) -> list:
    """Nested lists from ``tolist()`` to one flat list of Python numbers."""
    if not _isinstance(values, _list):
        return [values]
    out: list = []
    stack = [values]
    while stack:
        item = stack.pop()
        if _isinstance(item, _list):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def _errors(got: list, expected: list) -> tuple[float, float, bool]:
    """(max abs error, max relative error, any NaN in got), with plain floats."""
    max_abs = 0.0
    max_rel = 0.0
    nan = False
    for a, b in _zip(got, expected):
        a, b = _float(a), _float(b)
        if a != a:
            nan = True
            continue
        d = a - b if a > b else b - a
        scale = (a if a > 0 else -a) + (b if b > 0 else -b)
        rel = d / scale if scale > 1e-12 else d
        max_abs = d if d > max_abs else max_abs
        max_rel = rel if rel > max_rel else max_rel
    return max_abs, max_rel, nan


def _within(got: list, expected: list, rtol: float, atol: float) -> bool:
    for a, b in _zip(got, expected):
        a, b = _float(a), _float(b)
        if a != a and b != b:
            continue
        d = a - b if a > b else b - a
        if not d <= atol + rtol * (b if b > 0 else -b):
            return False
    return True


def _as_numbers(name: str, value, *, kind: str) -> tuple[tuple, list]:
    """Shape and flat values of an exact ndarray (or torch.Tensor when kind == 'tensor')."""
    if kind == "tensor":
        import torch

        if not _isinstance(value, torch.Tensor) or _type(value).__module__ not in (
            "torch", "torch.nn.parameter"
        ):
            _fail(f"{name} should be a torch.Tensor, but it is a {_type(value).__name__}.")
        value = torch._C.TensorBase.detach(value)
        shape = _tuple(_int(s) for s in torch._C.TensorBase.size(value))
        return shape, _flatten(torch._C.TensorBase.tolist(value))
    if _type(value) is not _ndarray:
        _fail(f"{name} should be a NumPy array (np.ndarray), but it is a {_type(value).__name__}.")
    if value.dtype.kind not in "fciub":
        _fail(f"{name} should hold numbers, but its dtype is {value.dtype}.")
    return _tuple(value.shape), _flatten(_tolist(value))


def check_shape(name: str, got, expected_shape: Iterable[int], *, kind: str = "array") -> None:
    """Fail with a readable message unless ``got`` has exactly ``expected_shape``."""
    shape, _ = _as_numbers(name, got, kind=kind)
    expected_shape = _tuple(_int(s) for s in expected_shape)
    if shape != expected_shape:
        _fail(f"{name} has shape {shape}, expected {expected_shape}.")


def check_close(
    name: str,
    got,
    expected,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    mistakes: Mapping[str, object] | None = None,
    context: str = "",
    kind: str = "array",
) -> None:
    """Compare ``got`` with ``expected`` (same type, same shape, values within tolerance).

    ``mistakes`` maps a description of a common mistake ("the bias b was ignored") to what
    the answer would be if the learner made it; a failing answer that matches one is named.
    ``context`` says on which inputs the comparison was made ("batch of 5, hidden size 3").
    """
    where = f" ({context})" if context else ""
    shape, values = _as_numbers(name, got, kind=kind)
    exp_shape, exp_values = _as_numbers(f"the expected {name}", expected, kind=kind)
    if shape != exp_shape:
        hint, matched = _match_mistake(shape, values, mistakes, rtol, atol, kind)
        _fail(f"{name}{where} has shape {shape}, expected {exp_shape}.{hint}", matched)
    if _within(values, exp_values, rtol, atol):
        return
    max_abs, max_rel, nan = _errors(values, exp_values)
    hint, matched = _match_mistake(shape, values, mistakes, rtol, atol, kind)
    nan_note = " It contains NaN." if nan else ""
    _fail(
        f"{name}{where} differs from the reference: max absolute error {max_abs:.3g}, "
        f"max relative error {max_rel:.3g} (tolerance rtol={rtol:g}, atol={atol:g}).{nan_note}{hint}",
        matched,
    )


def _match_mistake(shape, values, mistakes, rtol, atol, kind) -> tuple[str, str | None]:
    """(the sentence naming the mistake the answer matches, its description), or ("", None)."""
    if not mistakes:
        return "", None
    for description, wrong in mistakes.items():
        try:
            w_shape, w_values = _as_numbers("mistake", wrong, kind=kind)
        except CheckFailed:
            continue
        if w_shape == shape and _within(values, w_values, max(rtol, 1e-6), max(atol, 1e-8)):
            return f" It looks like {description}.", description
    return "", None


def check_scalar(name: str, got, expected: float, *, rtol: float = 1e-6, atol: float = 1e-8,
                 mistakes: Mapping[str, float] | None = None, context: str = "") -> None:
    """Compare a Python or NumPy scalar (not an array, not a look-alike object) with ``expected``."""
    where = f" ({context})" if context else ""
    if _type(got) not in (_int, _float, np.float64, np.float32, np.int64, np.int32) or _type(
        got
    ) is bool:
        _fail(f"{name} should be a number, but it is a {_type(got).__name__}.")
    a, b = _float(got), _float(expected)
    if _within([a], [b], rtol, atol):
        return
    for description, wrong in (mistakes or {}).items():
        if _within([a], [_float(wrong)], max(rtol, 1e-6), atol):
            _fail(f"{name}{where} is {a:.6g}, expected {b:.6g}. It looks like {description}.", description)
    _fail(f"{name}{where} is {a:.6g}, expected {b:.6g}.")


def check_unchanged(name: str, before: np.ndarray, after: np.ndarray) -> None:
    """Fail if an input array was modified in place by the learner's function."""
    if not _within(_flatten(_tolist(after)), _flatten(_tolist(before)), 0.0, 0.0):
        _fail(f"{name} was modified in place; work on a copy or build a new array instead.")


def snapshot(*arrays: np.ndarray) -> list[np.ndarray]:
    """Copies of input arrays, to pass to :func:`check_unchanged` after the call."""
    return [_copy(a) for a in arrays]


_FORBIDDEN_MODULES = ("lstm_course", "torch")


def assert_numpy_only(func: Callable, *, name: str | None = None) -> None:
    """Fail if a NumPy exercise calls the course's reference implementation or PyTorch.

    Looks at every global name the function (and functions it defines or calls from the
    notebook) refers to, and at what those names are bound to.
    """
    name = name or getattr(func, "__name__", "your function")
    if not _isinstance(func, types.FunctionType):
        _fail(f"{name} should be a plain Python function defined in the notebook.")
    seen: set[int] = set()
    todo = [func]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        closure = dict(_zip(f.__code__.co_freevars, [c.cell_contents for c in f.__closure__ or ()]))
        code_objects = [f.__code__]
        while code_objects:
            code = code_objects.pop()
            code_objects.extend(c for c in code.co_consts if _isinstance(c, types.CodeType))
            for global_name in (*code.co_names, *code.co_freevars):
                if global_name in closure:
                    target = closure[global_name]
                else:
                    target = f.__globals__.get(global_name, getattr(builtins, global_name, None))
                module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
                if _isinstance(target, types.ModuleType):
                    module = target.__name__
                if _isinstance(module, str) and module.split(".")[0] in _FORBIDDEN_MODULES:
                    _fail(
                        f"{name} uses `{global_name}` from {module}; write this exercise with "
                        "NumPy only, not by calling the course's reference or PyTorch."
                    )
                if _isinstance(target, types.FunctionType) and target.__module__ == f.__module__:
                    todo.append(target)


def run_checks(checks: Mapping[str, Callable[[], None]]) -> None:
    """Run several named checks and report every failure together (used for multi-part tests)."""
    failures, named = [], None
    for label, check in checks.items():
        try:
            check()
        except CheckFailed as err:
            failures.append(f"- {label}: {err}")
            if named is None and err.mistake:
                named = err  # the first named mistake is the one recorded
    if failures:
        if named is not None:
            raise CheckFailed("\n".join(failures), mistake=named.mistake,
                              mistake_description=named.mistake_description)
        _fail("\n".join(failures))


# A CheckFailed that ends a cell in IPython records its named mistake (a display_data output).
_mistakes.install(CheckFailed)

__all__ = [
    "CheckFailed",
    "assert_numpy_only",
    "check_close",
    "check_scalar",
    "check_shape",
    "check_unchanged",
    "run_checks",
    "snapshot",
]
