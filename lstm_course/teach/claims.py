"""Claims bound to their measurements: numbers shown in the prose, and checks that fail loudly.

A chapter's prose quotes its own numbers through MyST's ``{eval}`` role, which the book
(myst-nb, inline execution) and JupyterLab (``jupyterlab-myst``) both fill in from the kernel.
``{eval}`` shows an object's ``repr`` (as plain text: both front ends render that the same
way), so a measured number is wrapped once, where it is measured, in :func:`shown`, which fixes
how it prints (powers of ten with superscript digits, 8.2 × 10¹³)::

    acc_rnn = shown(accuracy(rnn, xs, ys), ".2f")      # in the cell that measured it
    The RNN reaches {eval}`acc_rnn` accuracy.          # in the markdown cell below

Every sentence about the course's own results is also an executed check, in a cell tagged
``remove-input`` and ``remove-output`` (shown nowhere in the book, but run by ``make book``;
``remove-cell`` would not do: myst-nb's inline execution drops such a cell before running it)::

    claim(acc_lstm > 0.95 > 0.6 > acc_rnn,
          "the LSTM keeps 0.95 accuracy at gap 80 while the RNN stays near chance")

so the build fails, naming the sentence, the moment the claim stops being true.
"""

from __future__ import annotations


class Shown(float):
    """A float that prints in a fixed format (``repr`` is what ``{eval}`` shows).

    Arithmetic gives plain floats back, so a ``Shown`` value can be used like the number it is.
    """

    fmt: str

    def __new__(cls, value: float, fmt: str = ".3g") -> Shown:
        obj = super().__new__(cls, value)
        obj.fmt = fmt
        return obj

    def __repr__(self) -> str:
        text = format(float(self), self.fmt)
        if "e" in self.fmt and "e" in text:  # 8.2e+13 -> 8.2 × 10¹³, as a reader writes it
            mantissa, exponent = text.split("e")
            text = f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
        return text

    __str__ = __repr__


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def shown(value: float, fmt: str = ".3g") -> Shown:
    """``value`` as it should read in the prose: ``shown(0.9812, ".2f")`` prints ``0.98``.

    ``fmt`` is a format spec: ``".2f"``, ``".1%"`` (0.847 -> 84.7%), ``".1e"`` (8.2e13 -> 8.2 × 10¹³),
    ``".0f"``, ``","``...
    """
    return Shown(float(value), fmt)


class ClaimBroken(AssertionError):
    """A sentence of a chapter no longer matches what its cells measured."""


def claim(holds: bool, sentence: str, **measured: float) -> None:
    """Check that ``sentence`` (what the chapter says) is true; raise naming it if not.

    ``measured`` are the numbers behind the sentence, printed with the failure.
    """
    if not bool(holds):
        numbers = ", ".join(f"{name} = {value!r}" for name, value in measured.items())
        raise ClaimBroken(
            f"The chapter says: {sentence!r}, but the measurements no longer show it"
            + (f" ({numbers})." if numbers else ".")
            + " Change the experiment or the sentence."
        )
