"""Pictures of the LSTM cell, drawn by the course's own code: the cell diagram and gate heatmaps.

``draw_lstm_cell(highlight=...)`` draws the same cell in every chapter, with the part under
discussion in colour and the rest faded:

* ``"concat"``: h_{t-1} and x_t joined into [h_{t-1}, x_t], the vector every gate reads;
* ``"forget"``: the forget gate f_t and the product f_t * c_{t-1};
* ``"input"``: the input gate i_t and the product i_t * c~_t;
* ``"candidate"``: the candidate memory c~_t and the product i_t * c~_t;
* ``"cell"``: the cell state line c_{t-1} -> c_t with its product and sum;
* ``"output"``: the output gate o_t, tanh(c_t) and h_t = o_t * tanh(c_t).

``alt_text(highlight)`` gives a matching description for the figure's alt text.
``plot_gate_heatmap`` shows gate activations (T, hidden) over a sequence, one panel per gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch

PARTS = ("concat", "forget", "input", "candidate", "cell", "output")

TITLES = {
    None: r"The LSTM cell: $c_t = f_t \odot c_{t-1} + i_t \odot \tilde{c}_t$,"
          r"   $h_t = o_t \odot \tanh(c_t)$",
    "concat": r"Every gate reads the concatenation $[h_{t-1}, x_t]$",
    "forget": r"Forget gate: $f_t = \sigma(W_f\,[h_{t-1}, x_t] + b_f)$, applied as $f_t \odot c_{t-1}$",
    "input": r"Input gate: $i_t = \sigma(W_i\,[h_{t-1}, x_t] + b_i)$, applied as $i_t \odot \tilde{c}_t$",
    "candidate": r"Candidate memory: $\tilde{c}_t = \tanh(W_g\,[h_{t-1}, x_t] + b_g)$",
    "cell": r"Cell state: $c_t = f_t \odot c_{t-1} + i_t \odot \tilde{c}_t$",
    "output": r"Output gate: $o_t = \sigma(W_o\,[h_{t-1}, x_t] + b_o)$,   $h_t = o_t \odot \tanh(c_t)$",
}

_DESCRIPTIONS = {
    "concat": "the previous hidden state h(t-1) and the input x(t) joining into one vector "
              "that feeds all four gate layers",
    "forget": "the forget gate: a sigmoid layer whose output f(t) multiplies the old cell "
              "state c(t-1) on the top line",
    "input": "the input gate: a sigmoid layer whose output i(t) multiplies the candidate "
             "before it is added to the cell state",
    "candidate": "the candidate memory: a tanh layer whose output, scaled by the input gate, "
                 "is added to the cell state",
    "cell": "the cell state line along the top, from c(t-1) through a multiplication by the "
            "forget gate and an addition of the gated candidate to c(t)",
    "output": "the output gate: a sigmoid layer whose output o(t) multiplies tanh of the new "
              "cell state to give h(t), which leaves to the right and upwards",
}

_BASE = ("Diagram of one LSTM cell. The cell state runs along the top from c(t-1) on the left "
         "to c(t) on the right; the previous hidden state h(t-1) enters at the bottom left and "
         "the input x(t) from below; four layers (sigmoid for the forget, input and output "
         "gates, tanh for the candidate) read their concatenation; h(t) leaves at the right "
         "and at the top.")

# Colours: gate layers yellow, point-wise operations pink, the highlight a strong blue.
_LAYER_FILL, _OP_FILL, _BODY_FILL = "#fbe3a1", "#f5c6c6", "#f3f3f3"
_INK, _HIGHLIGHT, _HIGHLIGHT_FILL = "#333333", "#1f5fbf", "#cfe0fa"
_FADE = 0.28

# Layout (data coordinates): the cell-state line, the bus carrying [h_{t-1}, x_t], the gate row.
_Y_CELL, _Y_BUS, _Y_GATES, _Y_MID = 4.7, 1.1, 2.55, 3.75
_X_JOIN, _X_F, _X_I, _X_C, _X_O = 1.7, 2.6, 3.9, 5.3, 6.9
_X_IN_OP, _X_TANH, _X_H = 4.6, 8.2, 9.3
_X_LEFT, _X_RIGHT = -0.1, 10.9
_R_OP = 0.24                     # radius of a point-wise operation
_BOX_W, _BOX_H = 1.0, 0.7        # size of a gate layer


def _as_set(highlight: str | Iterable[str] | None) -> set[str]:
    if highlight is None:
        return set()
    parts = {highlight} if isinstance(highlight, str) else set(highlight)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; choose from {PARTS} or None")
    return parts


class _Painter:
    """Draws elements that belong to parts; highlighted parts in colour, the others faded."""

    def __init__(self, ax, highlight: set[str]):
        self.ax, self.highlight = ax, highlight

    def _style(self, parts: Iterable[str]) -> tuple[str, float, float, bool]:
        """(colour, line width, alpha, emphasised) for an element belonging to ``parts``."""
        if not self.highlight:
            return _INK, 1.6, 1.0, False
        if self.highlight & set(parts):
            return _HIGHLIGHT, 2.6, 1.0, True
        return _INK, 1.4, _FADE, False

    def line(self, points: Sequence[tuple[float, float]], parts: Iterable[str], arrow: bool = True):
        colour, lw, alpha, _ = self._style(parts)
        xs, ys = zip(*points, strict=True)
        self.ax.plot(xs, ys, color=colour, lw=lw, alpha=alpha, solid_capstyle="butt", zorder=1)
        if arrow:
            self.ax.annotate("", xy=points[-1], xytext=points[-2], zorder=2,
                             arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, alpha=alpha,
                                             shrinkA=0, shrinkB=0, mutation_scale=14))

    def dot(self, xy: tuple[float, float], parts: Iterable[str]):
        colour, _, alpha, _ = self._style(parts)
        self.ax.add_patch(Circle(xy, 0.06, color=colour, alpha=alpha, zorder=3))

    def layer(self, x: float, label: str, parts: Iterable[str]):
        colour, lw, alpha, strong = self._style(parts)
        self.ax.add_patch(FancyBboxPatch(
            (x - _BOX_W / 2, _Y_GATES - _BOX_H / 2), _BOX_W, _BOX_H,
            boxstyle="round,pad=0.02,rounding_size=0.12", lw=lw, alpha=alpha, zorder=3,
            edgecolor=colour, facecolor=_HIGHLIGHT_FILL if strong else _LAYER_FILL))
        self.ax.text(x, _Y_GATES, label, ha="center", va="center", fontsize=13, color=_INK,
                     alpha=alpha, zorder=4)

    def op(self, xy: tuple[float, float], symbol: str, parts: Iterable[str], wide: bool = False):
        colour, lw, alpha, strong = self._style(parts)
        fill = _HIGHLIGHT_FILL if strong else _OP_FILL
        if wide:
            patch = Ellipse(xy, 2.6 * _R_OP, 2 * _R_OP * 1.15)
        else:
            patch = Circle(xy, _R_OP)
        patch.set(facecolor=fill, edgecolor=colour, lw=lw, alpha=alpha, zorder=3)
        self.ax.add_patch(patch)
        self.ax.text(*xy, symbol, ha="center", va="center", fontsize=10 if wide else 14,
                     color=_INK, alpha=alpha, zorder=4)

    def label(self, xy: tuple[float, float], text: str, parts: Iterable[str], **kwargs):
        colour, _, alpha, strong = self._style(parts)
        self.ax.text(*xy, text, color=colour if strong else _INK, alpha=alpha, zorder=4,
                     fontsize=kwargs.pop("fontsize", 13), **kwargs)


def draw_lstm_cell(highlight: str | Iterable[str] | None = None, *, ax=None, title: str | None = None):
    """Draw one LSTM cell; ``highlight`` is None, one of :data:`PARTS`, or several of them.

    ``title`` replaces the default title (the equation of the highlighted part; "" for none).
    Returns the matplotlib Figure.
    """
    parts = _as_set(highlight)
    if ax is None:
        fig, ax = plt.subplots(figsize=(9.0, 5.4))
    else:
        fig = ax.figure
    p = _Painter(ax, parts)
    ax.add_patch(FancyBboxPatch((1.0, 0.45), 8.9, 4.95, boxstyle="round,pad=0.05,rounding_size=0.4",
                                facecolor=_BODY_FILL, edgecolor="#9a9a9a", lw=1.2, zorder=0))
    r, top, bottom = _R_OP, _Y_GATES + _BOX_H / 2, _Y_GATES - _BOX_H / 2

    # The cell state: c_{t-1} -> (x f_t) -> (+ i_t c~_t) -> c_t.
    cell = ("cell",)
    p.line([(_X_LEFT, _Y_CELL), (_X_F - r, _Y_CELL)], ("cell", "forget"))
    p.line([(_X_F + r, _Y_CELL), (_X_IN_OP - r, _Y_CELL)], cell)
    p.line([(_X_IN_OP + r, _Y_CELL), (_X_RIGHT, _Y_CELL)], cell)
    p.op((_X_F, _Y_CELL), r"$\times$", ("forget", "cell"))
    p.op((_X_IN_OP, _Y_CELL), "$+$", cell)
    p.label((_X_LEFT, _Y_CELL + 0.2), "$c_{t-1}$", ("cell", "forget"), ha="left", va="bottom")
    p.label((_X_RIGHT, _Y_CELL + 0.2), "$c_t$", cell, ha="right", va="bottom")

    # The concatenation [h_{t-1}, x_t] and the bus that feeds the four gate layers.
    concat = ("concat",)
    p.line([(_X_LEFT, _Y_BUS), (_X_JOIN, _Y_BUS)], concat, arrow=False)
    p.line([(_X_JOIN, -0.75), (_X_JOIN, _Y_BUS)], concat, arrow=False)
    p.line([(_X_JOIN, _Y_BUS), (_X_O, _Y_BUS)], concat, arrow=False)
    p.dot((_X_JOIN, _Y_BUS), concat)
    p.label((_X_LEFT, _Y_BUS + 0.15), "$h_{t-1}$", concat, ha="left", va="bottom")
    p.label((_X_JOIN + 0.15, -0.75), "$x_t$", concat, ha="left", va="bottom")
    p.label((_X_JOIN + 0.2, _Y_BUS - 0.12), "$[h_{t-1}, x_t]$", concat, ha="left", va="top",
            fontsize=11)

    # The four layers, each fed from the bus.
    for x, symbol, part in [(_X_F, r"$\sigma$", "forget"), (_X_I, r"$\sigma$", "input"),
                            (_X_C, r"$\tanh$", "candidate"), (_X_O, r"$\sigma$", "output")]:
        p.line([(x, _Y_BUS), (x, bottom)], (part, "concat"))
        p.layer(x, symbol, (part,))

    # Forget: f_t up to the product on the cell line.
    p.line([(_X_F, top), (_X_F, _Y_CELL - r)], ("forget",))
    p.label((_X_F - 0.12, _Y_MID - 0.05), "$f_t$", ("forget",), ha="right", va="center")

    # Input and candidate: i_t and c~_t meet in a product, which is added to the cell state.
    p.line([(_X_I, top), (_X_I, _Y_MID), (_X_IN_OP - r, _Y_MID)], ("input",))
    p.line([(_X_C, top), (_X_C, _Y_MID), (_X_IN_OP + r, _Y_MID)], ("candidate",))
    p.op((_X_IN_OP, _Y_MID), r"$\times$", ("input", "candidate"))
    p.line([(_X_IN_OP, _Y_MID + r), (_X_IN_OP, _Y_CELL - r)], ("input", "candidate", "cell"))
    p.label((_X_I - 0.12, _Y_MID - 0.3), "$i_t$", ("input",), ha="right", va="center")
    p.label((_X_C + 0.12, _Y_MID - 0.3), r"$\tilde{c}_t$", ("candidate",), ha="left", va="center")

    # Output: tanh(c_t) times o_t gives h_t, which leaves right (next step) and up (output).
    out = ("output",)
    p.dot((_X_TANH, _Y_CELL), out)
    p.line([(_X_TANH, _Y_CELL), (_X_TANH, _Y_MID + 1.15 * r)], out)
    p.op((_X_TANH, _Y_MID), r"$\tanh$", out, wide=True)
    p.line([(_X_TANH, _Y_MID - 1.15 * r), (_X_TANH, _Y_GATES + r)], out)
    p.line([(_X_O + _BOX_W / 2, _Y_GATES), (_X_TANH - r, _Y_GATES)], out)
    p.op((_X_TANH, _Y_GATES), r"$\times$", out)
    p.label((_X_O + _BOX_W / 2 + 0.1, _Y_GATES + 0.08), "$o_t$", out, ha="left", va="bottom")
    p.line([(_X_TANH + r, _Y_GATES), (_X_H, _Y_GATES), (_X_H, _Y_BUS), (_X_RIGHT, _Y_BUS)], out)
    p.line([(_X_H, _Y_GATES), (_X_H, 6.15)], out)
    p.dot((_X_H, _Y_GATES), out)
    p.label((_X_RIGHT, _Y_BUS + 0.15), "$h_t$", out, ha="right", va="bottom")
    p.label((_X_H + 0.15, 6.15), "$h_t$", out, ha="left", va="top")

    key = None if not parts else (next(iter(parts)) if len(parts) == 1 else None)
    ax.set_title(TITLES.get(key, TITLES[None]) if title is None else title, fontsize=12.5)
    ax.set_xlim(-0.35, 11.15)
    ax.set_ylim(-0.95, 6.35)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def alt_text(highlight: str | Iterable[str] | None = None) -> str:
    """Alt text for :func:`draw_lstm_cell` with the same ``highlight``."""
    parts = _as_set(highlight)
    if not parts:
        return _BASE
    named = "; ".join(_DESCRIPTIONS[p] for p in PARTS if p in parts)
    return f"{_BASE} Highlighted in blue, with the rest faded: {named}."


def plot_gate_heatmap(panels: Mapping[str, np.ndarray], tokens: Sequence[str] | None = None, *,
                      unit_labels: Sequence[str] | None = None,
                      limits: Mapping[str, tuple[float, float]] | None = None, title: str = ""):
    """One heatmap panel per entry of ``panels``: label -> activations (T, hidden).

    Rows are units, columns are time steps (labelled with ``tokens`` when given). Panels whose
    values lie in [0, 1] (gates) use a sequential colour map on [0, 1]; others a diverging map
    symmetric about 0, unless ``limits[label]`` sets the range. Returns the Figure.
    """
    limits = dict(limits or {})
    arrays = {k: np.asarray(v, dtype=float) for k, v in panels.items()}
    T, H = next(iter(arrays.values())).shape
    size = (max(6.4, 0.32 * T + 2.0), (0.26 * H + 0.4) * len(arrays) + 1.4)
    fig, axes = plt.subplots(len(arrays), 1, sharex=True, squeeze=False, figsize=size)
    for ax, (label, values) in zip(axes[:, 0], arrays.items(), strict=True):
        if label in limits:
            lo, hi = limits[label]
        elif values.min() >= 0 and values.max() <= 1:
            lo, hi = 0.0, 1.0
        else:
            hi = float(np.abs(values).max()) or 1.0
            lo = -hi
        cmap = "viridis" if lo >= 0 else "RdBu_r"
        im = ax.imshow(values.T, aspect="auto", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=12)
        ax.set_yticks(range(H))
        ax.set_yticklabels(unit_labels if unit_labels is not None else [str(j) for j in range(H)],
                           fontsize=8)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    bottom = axes[-1, 0]
    bottom.set_xticks(range(T))
    bottom.set_xticklabels(tokens if tokens is not None else [str(t) for t in range(T)],
                           rotation=60, ha="right", fontsize=8)
    bottom.set_xlabel("time step $t$" if tokens is None else "input $x_t$")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


# The plain RNN (Chapter 1): one cell, and the cell unrolled over time, in the LSTM cell's style.

RNN_TITLE = r"The plain RNN cell: $h_t = \tanh(W_x x_t + W_h h_{t-1} + b)$"

_RNN_ALT = ("Diagram of one plain RNN cell. The previous hidden state h(t-1) enters from the left "
            "and the input x(t) from below; they join into one vector [h(t-1), x(t)] that feeds a "
            "single tanh layer (the yellow box, holding the weights W_h, W_x and the bias b). Its "
            "output h(t) leaves to the right, to the next step, and upwards, as the cell's output. "
            "There is no second state: everything the cell remembers is in h(t).")


def _arrow(ax, points, *, colour=_INK, lw=1.6, alpha=1.0, dashed=False, arrow=True):
    """A polyline with an arrow head at its last point (dashed lines carry gradients)."""
    xs, ys = zip(*points, strict=True)
    style = (0, (4, 2.5)) if dashed else "-"
    ax.plot(xs, ys, color=colour, lw=lw, alpha=alpha, linestyle=style, solid_capstyle="butt", zorder=1)
    if arrow:  # the head alone: a solid shaft from points[-2] would hide the dashes
        (xa, ya), (xb, yb) = points[-2], points[-1]
        length = float(np.hypot(xb - xa, yb - ya)) or 1.0
        tail = (xb - 0.25 * (xb - xa) / length, yb - 0.25 * (yb - ya) / length)
        ax.annotate("", xy=points[-1], xytext=tail, zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=lw, alpha=alpha,
                                    shrinkA=0, shrinkB=0, mutation_scale=14))


def _tanh_layer(ax, xy, *, alpha=1.0, label=r"$\tanh$", fontsize=13):
    """A layer box (weights and a non-linearity), yellow like the LSTM's gate layers."""
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.12", lw=1.6, alpha=alpha,
                                zorder=3, edgecolor=_INK, facecolor=_LAYER_FILL))
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, color=_INK, alpha=alpha, zorder=4)


def _dot(ax, xy, colour=_INK, alpha=1.0):
    ax.add_patch(Circle(xy, 0.06, color=colour, alpha=alpha, zorder=3))


def draw_rnn_cell(*, ax=None, title: str | None = None):
    """Draw one plain RNN cell in the style of :func:`draw_lstm_cell`. Returns the Figure.

    ``title`` replaces the default title (the cell's equation; "" for none).
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
    else:
        fig = ax.figure
    x_join, x_layer, x_split, x_left, x_right = 1.7, 3.3, 5.1, -0.1, 6.5
    y_bus, y_layer, y_top = _Y_BUS, _Y_GATES, 3.7
    ax.add_patch(FancyBboxPatch((1.0, 0.45), 4.9, 2.85, boxstyle="round,pad=0.05,rounding_size=0.4",
                                facecolor=_BODY_FILL, edgecolor="#9a9a9a", lw=1.2, zorder=0))
    # [h_{t-1}, x_t] on the bus, into the one tanh layer.
    _arrow(ax, [(x_left, y_bus), (x_join, y_bus)], arrow=False)
    _arrow(ax, [(x_join, -0.75), (x_join, y_bus)], arrow=False)
    _arrow(ax, [(x_join, y_bus), (x_layer, y_bus), (x_layer, y_layer - _BOX_H / 2)])
    _dot(ax, (x_join, y_bus))
    _tanh_layer(ax, (x_layer, y_layer))
    ax.text(x_layer + _BOX_W / 2 + 0.12, y_layer + 0.05, "$W_h, W_x, b$", ha="left", va="center",
            fontsize=11, color=_INK, zorder=4)
    ax.text(x_left, y_bus + 0.15, "$h_{t-1}$", ha="left", va="bottom", fontsize=13, color=_INK)
    ax.text(x_join + 0.15, -0.75, "$x_t$", ha="left", va="bottom", fontsize=13, color=_INK)
    ax.text(x_join + 0.2, y_bus - 0.12, "$[h_{t-1}, x_t]$", ha="left", va="top", fontsize=11, color=_INK)
    # h_t leaves to the right (the next step) and upwards (the output): one value, copied.
    _arrow(ax, [(x_layer, y_layer + _BOX_H / 2), (x_layer, y_top - 0.55), (x_split, y_top - 0.55),
                (x_split, y_bus), (x_right, y_bus)])
    _arrow(ax, [(x_split, y_top - 0.55), (x_split, 4.4)])
    _dot(ax, (x_split, y_top - 0.55))
    ax.text(x_right, y_bus + 0.15, "$h_t$", ha="right", va="bottom", fontsize=13, color=_INK)
    ax.text(x_split + 0.15, 4.4, "$h_t$", ha="left", va="top", fontsize=13, color=_INK)
    ax.set_title(RNN_TITLE if title is None else title, fontsize=12.5)
    ax.set_xlim(-0.35, 6.75)
    ax.set_ylim(-0.95, 4.6)
    ax.set_aspect("equal")
    ax.set(xticks=[], yticks=[])
    ax.axis("off")
    fig.tight_layout()
    return fig


def rnn_cell_alt_text() -> str:
    """Alt text for :func:`draw_rnn_cell`."""
    return _RNN_ALT


def draw_unrolled_rnn(T: int = 4, *, backward: bool = False, ax=None, title: str | None = None):
    """Draw the RNN unrolled over ``T`` steps (3 to 8): one tanh layer per step, shared weights.

    ``backward=True`` adds backpropagation through time in the highlight colour, as dashed
    arrows (so the picture reads without colour): the gradient from each step's output enters
    at the top, and the total gradient flows right to left, one Jacobian per step; the forward
    pass is faded. ``title`` replaces the default title ("" for none). Returns the Figure.
    """
    if not 3 <= T <= 8:
        raise ValueError(f"T must be between 3 and 8 to fit on a page, got {T}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.75 * T + 1.6, 3.9 if backward else 3.4))
    else:
        fig = ax.figure
    step, x0, y_cell, y_out, y_in = 2.3, 1.6, 1.5, 3.0, 0.0
    alpha = 0.45 if backward else 1.0
    xs = [x0 + step * k for k in range(T)]
    split = [x + _BOX_W / 2 + 0.45 for x in xs]
    _arrow(ax, [(0.0, y_cell), (xs[0] - _BOX_W / 2, y_cell)], alpha=alpha)
    ax.text(0.0, y_cell + 0.12, "$h_0$", ha="left", va="bottom", fontsize=13, color=_INK, alpha=alpha)
    for k, (x, s) in enumerate(zip(xs, split, strict=True), start=1):
        _tanh_layer(ax, (x, y_cell), alpha=alpha)
        _arrow(ax, [(x, y_in), (x, y_cell - _BOX_H / 2)], alpha=alpha)
        ax.text(x, y_in - 0.08, f"$x_{k}$", ha="center", va="top", fontsize=13, color=_INK, alpha=alpha)
        end = xs[k] - _BOX_W / 2 if k < T else s + 0.9
        _arrow(ax, [(x + _BOX_W / 2, y_cell), (end, y_cell)], alpha=alpha)
        _arrow(ax, [(s, y_cell), (s, y_out)], alpha=alpha)
        _dot(ax, (s, y_cell), alpha=alpha)
        ax.text(s - 0.08 if backward else s + 0.1, y_out, f"$h_{k}$", ha="right" if backward else "left",
                va="top", fontsize=13, color=_INK, alpha=alpha)
    ax.text((xs[0] + xs[-1]) / 2, -0.75, r"the same weights $W_x$, $W_h$, $b$ at every step",
            ha="center", va="top", fontsize=11, color=_INK)
    if backward:
        y_back, y_loss, dx = y_cell - 0.8, y_out + 0.85, 0.3
        for k, (x, s) in enumerate(zip(xs, split, strict=True), start=1):
            _arrow(ax, [(s + dx, y_loss), (s + dx, y_back)], colour=_HIGHLIGHT, lw=2.2, dashed=True,
                   arrow=False)
            _arrow(ax, [(s + dx, y_loss), (s + dx, y_cell + 0.3)], colour=_HIGHLIGHT, lw=2.2, dashed=True)
            ax.text(s + dx + 0.08, y_loss - 0.05, rf"$\partial L/\partial h_{k}$", ha="left", va="top",
                    fontsize=10.5, color=_HIGHLIGHT)
            left = split[k - 2] + dx if k > 1 else 0.3
            _arrow(ax, [(s + dx, y_back), (left, y_back)], colour=_HIGHLIGHT, lw=2.2, dashed=True)
            ax.text(x + 0.12, y_back - 0.1, rf"$\times J_{k}$", ha="left", va="top", fontsize=10.5,
                    color=_HIGHLIGHT)
        ax.text(split[-1] + dx + 0.2, y_back + 0.1, r"$J_k = \mathrm{diag}(1 - h_k^2)\, W_h$", ha="left",
                va="bottom", fontsize=11, color=_HIGHLIGHT)
    default = (r"Backpropagation through time: the gradient flows back (dashed), one $J_k$ per step"
               if backward else rf"The RNN unrolled over $T = {T}$ steps: a deep network with shared weights")
    ax.set_title(default if title is None else title, fontsize=12.5)
    ax.set_xlim(-0.3, split[-1] + (3.6 if backward else 1.3))
    ax.set_ylim(-1.2, (y_out + 1.0) if backward else (y_out + 0.2))
    ax.set_aspect("equal")
    ax.set(xticks=[], yticks=[])
    ax.axis("off")
    fig.tight_layout()
    return fig


def unrolled_rnn_alt_text(T: int = 4, *, backward: bool = False) -> str:
    """Alt text for :func:`draw_unrolled_rnn` with the same arguments."""
    text = (f"Diagram of a plain RNN unrolled over {T} steps: {T} identical tanh layers in a row, "
            f"sharing the weights W_x, W_h and b. The state h0 enters the first from the left; each "
            f"layer reads its input x(k) from below, and its output h(k) goes both up, as the output "
            f"of step k, and right, into the next layer, up to h({T}).")
    if backward:
        text += (" Backpropagation through time is drawn over it with dashed arrows (the forward "
                 "pass faded): a gradient dL/dh(k) comes down from the loss into every h(k), and the "
                 "total gradient runs from the last step back to h0, right to left, multiplied at "
                 "each step k by the Jacobian J(k) = diag(1 - h(k)^2) W_h.")
    return text
