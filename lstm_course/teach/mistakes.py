"""Named mistakes, as data: the id a failing check records next to its message.

A check in :mod:`lstm_course.teach.checks` names the likely mistake in its message for the
learner ("It looks like the blocks were read in the order i, f, o, g"). The grader wants the
same fact as data, to count across a class which mistakes were made. So every
:class:`~lstm_course.teach.checks.CheckFailed` carries ``mistake`` (an id such as
``gate-order-ifog``) and ``mistake_description`` (the description it matched), and when one
ends a cell in IPython (a test cell that failed), the cell first shows a ``display_data``
output of MIME type :data:`MIME` holding them; its ``text/plain`` is empty, so nothing
extra shows and, unlike stderr, it does not cost the test its points. The grader reads it
from the autograded notebook (:mod:`lstm_course.instructor.grading.mistakes`).

Ids come from, in order: a :class:`Mistake` key (``Mistake("my-id", "the description")``), the
:data:`CATALOG` below (the same slip worded for different exercises shares an id), or a slug
of the description (``auto:`` + its words), so that every named mistake has a stable id.
"""

from __future__ import annotations

import re
import sys

MIME = "application/vnd.lstm-course.mistake+json"


class Mistake(str):
    """A mistake description (a ``str``, usable wherever one is) with an explicit id."""

    id: str

    def __new__(cls, mistake_id: str, description: str) -> Mistake:
        self = super().__new__(cls, description)
        self.id = mistake_id
        return self


_GATE_ORDER = {
    "ifog": "gate-order-ifog",
    "figo": "gate-order-figo",
    "fiog": "gate-order-fiog",
}

#: Description (exactly as the tests word it) -> id. One id per slip, across chapters.
CATALOG: dict[str, str] = {
    # Chapter 1
    "a sigmoid was used instead of tanh": "sigmoid-for-tanh",
    "W_h was used transposed (h_prev @ W_h instead of h_prev @ W_h.T)": "weight-transposed",
    "the previous state h_prev was ignored": "state-ignored",
    "h0 was included and the last state dropped (hs[t] should be the state after xs[t])": "states-off-by-one",
    "the state was not fed back (every step used h0)": "state-not-fed-back",
    "W_h was used transposed (each step back multiplies by W_h, not W_h.T, for row vectors)":
        "weight-transposed",
    "the tanh derivative 1 - h^2 was left out": "tanh-derivative-missing",
    "the tanh derivative was taken at h_{t-1} instead of h_t": "tanh-derivative-wrong-step",
    "the norms are in reverse order (norms[t] belongs to hs[t])": "reversed-in-time",
    "the norm after clipping was returned": "clip-norm-after",
    "each gradient was clipped by its own norm instead of the global norm": "clip-per-tensor",
    "gradients were scaled up to the threshold": "clip-scaled-up",
    # Chapter 2
    "the sign is flipped: 1 / (1 + exp(z)) is sigma(-z)": "sigmoid-sign-flipped",
    "tanh was used instead of the sigmoid": "tanh-for-sigmoid",
    "the bias b_f was left out": "bias-missing",
    "the concatenation is [x_t, h_{t-1}]; the columns of W_f expect [h_{t-1}, x_t]": "concat-order-xh",
    "the sigmoid was left out": "nonlinearity-missing",
    "the result is transposed (W_f @ z.T is (hidden, batch); use z @ W_f.T)": "result-transposed",
    "only the last step's gate was applied; every step multiplies c by its own f_t": "only-last-gate",
    "only the first step's gate was applied; every step multiplies c by its own f_t": "only-first-gate",
    "the gates were added up; each step multiplies the cell state, so the factors multiply": "gates-added",
    "the sigmoid was left out: a_f are pre-activations, the gate is sigma(a_f)": "nonlinearity-missing",
    "(1 - f_t) was used, but f_t = 1 means keep": "forget-means-keep",
    "c_0 is missing: the product of the gates is the fraction of c_0 that is left": "initial-state-missing",
    "one step is missing (the loop skipped the first or the last step)": "step-missing",
    "the pre-activations were summed before the sigmoid (sigma(sum a_t) is not prod sigma(a_t))":
        "summed-before-sigmoid",
    "the memory was taken to fade linearly (1 - T (1 - f)); it fades geometrically": "linear-decay",
    "with no steps the cell state is unchanged (c_T = c_0), not zero": "empty-sequence",
    "the product ran over the batch axis; time is axis 0 of a_f": "wrong-axis",
    "the average gate was raised to the power T; with gates that change, multiply them one by one":
        "mean-gate-power",
    # Chapter 3
    "the blocks were read in the order i, f, o, g; PyTorch packs i, f, g, o": _GATE_ORDER["ifog"],
    "the input and forget blocks are swapped; PyTorch packs i, f, g, o": _GATE_ORDER["figo"],
    "the blocks were read in the order f, i, o, g; PyTorch packs i, f, g, o": _GATE_ORDER["fiog"],
    "the candidate g went through a sigmoid; it needs tanh to reach negative values": "sigmoid-for-tanh",
    "every block went through tanh; the gates i, f and o need a sigmoid (values in (0, 1))":
        "tanh-for-sigmoid",
    "the bias b was left out": "bias-missing",
    "the concatenation is [x_t, h_{t-1}]; the columns of W expect [h_{t-1}, x_t]": "concat-order-xh",
    "the gates were taken as every fourth column (a[:, k::4]); each gate is a block of H "
    "consecutive rows of W": "gates-interleaved",
    "a nonlinearity is missing (raw pre-activations returned)": "nonlinearity-missing",
    "the result is transposed (W @ z.T is (4H, batch); use z @ W.T)": "result-transposed",
    "the input and forget blocks are swapped (PyTorch's order is i, f, g, o)": _GATE_ORDER["figo"],
    "the candidate was taken from the last block (order i, f, o, g); PyTorch packs i, f, g, o":
        _GATE_ORDER["ifog"],
    "the candidate used a sigmoid instead of tanh": "sigmoid-for-tanh",
    "the old cell state was dropped (c_t = i_t * c~_t)": "old-cell-dropped",
    "the input gate was left out (c_t = f_t * c_{t-1} + c~_t)": "input-gate-missing",
    "the forget gate was left out (c_t = c_{t-1} + i_t * c~_t)": "forget-gate-missing",
    "the bias b was ignored": "bias-missing",
    "the output gate was used in place of the input gate": "output-for-input-gate",
    "c_t was built from the candidate alone (c_t = c~_t)": "candidate-only",
    # Chapter 4
    "tanh(c_t) is missing in h_t (h_t = o_t * c_t)": "output-tanh-missing",
    "h_t is the old h_{t-1}: the hidden state never changes (a bug of one set of notes)": "state-not-updated",
    "the output gate o_t was returned as h_t": "output-gate-as-state",
    "tanh was applied after the gate (h_t = tanh(o_t * c_t))": "tanh-after-gate",
    "the pair is returned as (c_t, h_t); return (h_t, c_t)": "return-order",
    "h_t used the old cell state c_{t-1} instead of the new c_t": "old-cell-in-output",
    "hs[t] is the state before xs[t] (h0 included, the last state dropped)": "states-off-by-one",
    "h was not fed back (every step used h0)": "state-not-fed-back",
    "c was not fed back (every step used c0)": "cell-not-fed-back",
    "the blocks are [weight_ih | weight_hh]; our cell reads [h_{t-1}, x_t], so weight_hh comes first":
        "concat-order-xh",
    "only bias_ih was used; PyTorch adds bias_ih and bias_hh": "one-bias-only",
    "only bias_hh was used; PyTorch adds bias_ih and bias_hh": "one-bias-only",
    "the two biases were concatenated instead of added": "biases-concatenated",
}


def slug(description: str) -> str:
    """The id of a description that has none of its own: ``auto:`` and its first words."""
    words = re.findall(r"[a-z0-9]+", description.lower())
    return "auto:" + "-".join(words)[:60].rstrip("-")


def mistake_id(description: str) -> str:
    """The id of a mistake description (see the module docstring for where it comes from)."""
    explicit = getattr(description, "id", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    return CATALOG.get(str(description)) or slug(str(description))


def payload(err: BaseException) -> dict | None:
    """What a failing test cell records about ``err``: None unless it matched a named mistake."""
    mistake = getattr(err, "mistake", None)
    if not isinstance(mistake, str) or not mistake:
        return None
    description = getattr(err, "mistake_description", None)
    return {"mistake": mistake, "description": description if isinstance(description, str) else ""}


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler for CheckFailed: the record, then the usual traceback."""
    data = payload(value)
    if data is not None:
        try:
            from IPython.display import display

            display({MIME: data, "text/plain": ""}, raw=True)
        except Exception:  # noqa: BLE001 - the record is optional, the traceback is not
            pass
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    return None


def install(exception: type[BaseException], shell=None) -> bool:
    """Record named mistakes of ``exception`` in the cell that raised it (IPython only)."""
    if shell is None:
        ipython = sys.modules.get("IPython")
        get = getattr(ipython, "get_ipython", None)
        shell = get() if get is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc((exception,), _handler)
    return True


__all__ = ["CATALOG", "MIME", "Mistake", "install", "mistake_id", "payload", "slug"]
