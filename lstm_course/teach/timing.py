"""Why ``nn.LSTM`` is fast, measured: a naive per-gate LSTM, timing helpers and the benchmark.

Implementations compared (each a factory ``(input_size, hidden_size) -> module`` whose
``module(xs)`` returns ``(outputs, (h_n, c_n))`` for xs: (T, batch, input_size)):

* ``"naive per-gate loop"``: :class:`NaiveLSTM`, the way many tutorials write it: four
  ``nn.Linear`` gates on the concatenation [h_{t-1}, x_t], a Python loop indexing ``xs[t]``;
* ``"course LSTM, step loop"``: :class:`lstm_course.modules.lstm.LSTM` with its fast path switched off
  (one product for all four gates, input projection before the loop, ``unbind``, autograd);
* ``"course LSTM"``: :class:`lstm_course.modules.lstm.LSTM` (a hand-written backward over the sequence);
* ``"nn.LSTM"``: PyTorch's fused kernel (oneDNN on the CPU, cuDNN on a GPU).

The course's performance targets and their measurement over a grid of sizes are the bench's
(``lstm-course bench``, :mod:`lstm_course.instructor.perf.bench`). Other programs on the
machine disturb timings, so :func:`compare` alternates between implementations and reports
medians. On a machine whose cores are busy
with other work, also set ``OMP_WAIT_POLICY=PASSIVE``: otherwise every parallel region
(a matrix product, a tanh of a few thousand numbers) can wait a whole scheduler time slice
for its second thread, which punishes step-by-step Python loops far more than ``nn.LSTM``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from lstm_course.modules.lstm import LSTM

Factory = Callable[[int, int], nn.Module]


class NaiveLSTM(nn.Module):
    """A single-layer LSTM written gate by gate (correct, but slow).

    Four ``nn.Linear`` layers read z_t = [h_{t-1}, x_t]: (batch, H + input_size); the loop
    indexes ``xs[t]``. Same math and return values as a one-layer ``nn.LSTM``.
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gate, self.forget_gate, self.candidate, self.output_gate = (
            nn.Linear(hidden_size + input_size, hidden_size) for _ in range(4))

    def forward(self, xs: Tensor, state: tuple[Tensor, Tensor] | None = None):
        T, B, _ = xs.shape
        if state is None:
            zeros = xs.new_zeros(B, self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        outputs = []
        for t in range(T):
            z = torch.cat([h, xs[t]], dim=1)
            i_t = torch.sigmoid(self.input_gate(z))
            f_t = torch.sigmoid(self.forget_gate(z))
            g_t = torch.tanh(self.candidate(z))
            o_t = torch.sigmoid(self.output_gate(z))
            c = f_t * c + i_t * g_t
            h = o_t * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> NaiveLSTM:
        """Copy a one-layer ``nn.LSTM``'s weights (W = [W_hh | W_ih] per gate, b = b_ih + b_hh)."""
        new = cls(lstm.input_size, lstm.hidden_size).to(lstm.weight_ih_l0)
        w = torch.cat([lstm.weight_hh_l0, lstm.weight_ih_l0], dim=1).chunk(4)
        b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).chunk(4)
        gates = [new.input_gate, new.forget_gate, new.candidate, new.output_gate]
        with torch.no_grad():
            for linear, w_k, b_k in zip(gates, w, b, strict=True):
                linear.weight.copy_(w_k)
                linear.bias.copy_(b_k)
        return new


def step_loop_lstm(input_size: int, hidden_size: int) -> LSTM:
    """The course LSTM with the whole-sequence fast path off: a fused step loop under autograd."""
    lstm = LSTM(input_size, hidden_size)
    for cell in lstm.cells():
        cell.fast_sequence = False
    return lstm


IMPLEMENTATIONS: dict[str, Factory] = {
    "naive per-gate loop": NaiveLSTM,
    "course LSTM, step loop": step_loop_lstm,
    "course LSTM": LSTM,
    "nn.LSTM": nn.LSTM,
}


def _run_once(model: nn.Module, xs: Tensor, backward: bool, clock: Callable[[], float] = time.perf_counter
              ) -> float:
    start = clock()
    if backward:
        out, (h_n, c_n) = model(xs)
        (out.sum() + c_n.sum()).backward()
    else:
        with torch.no_grad():
            model(xs)
    if xs.is_cuda:
        torch.cuda.synchronize()
    return clock() - start


def compare_runs(impls: Mapping[str, Factory], T: int, B: int, I: int, H: int, *, backward: bool = True,
                 repeats: int = 10, warmup: int = 2, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu", threads: int | None = None,
                 seed: int = 0, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds of every timed call (forward, or forward + backward) of each implementation.

    All models read the same input xs: (T, B, I). The runs are interleaved (one call of each
    implementation per round, round k of every implementation at index k) so that load from
    other programs hits all of them alike, and the ratio of two implementations can be taken
    round by round. ``threads`` sets ``torch.set_num_threads`` for the measurement and restores it after.
    ``clock`` is wall-clock time by default; ``time.process_time`` measures the CPU time of this
    process instead, which programs running beside it do not inflate (for one thread, on the CPU).
    """
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        xs = torch.randn(T, B, I, dtype=dtype, device=device, requires_grad=backward)
        models = {name: make(I, H).to(device=device, dtype=dtype) for name, make in impls.items()}
        times: dict[str, list[float]] = {name: [] for name in models}
        for round_ in range(warmup + repeats):
            for name, model in models.items():
                model.zero_grad(set_to_none=True)
                xs.grad = None
                elapsed = _run_once(model, xs, backward, clock)
                if round_ >= warmup:
                    times[name].append(elapsed)
        return times
    finally:
        torch.set_num_threads(old_threads)


def compare(impls: Mapping[str, Factory], T: int, B: int, I: int, H: int, *,
            statistic: str = "median", **kwargs) -> dict[str, float]:
    """Seconds per call of each implementation: the ``"median"`` or ``"min"`` of the timed calls
    of :func:`compare_runs` (which takes the other keyword arguments). The minimum is the least
    disturbed by other programs when there are few repeats."""
    summary = {"median": statistics.median, "min": min}[statistic]
    return {name: summary(ts) for name, ts in compare_runs(impls, T, B, I, H, **kwargs).items()}


def time_lstm(impl: str | Factory, T: int, B: int, I: int, H: int, *, backward: bool = True,
              repeats: int = 10, **kwargs) -> float:
    """Median seconds per call of one implementation (a name in IMPLEMENTATIONS or a factory)."""
    make = IMPLEMENTATIONS[impl] if isinstance(impl, str) else impl
    return compare({"impl": make}, T, B, I, H, backward=backward, repeats=repeats, **kwargs)["impl"]


def benchmark(sizes: Sequence[tuple[int, int, int, int]], impls: Mapping[str, Factory] | None = None,
              *, repeats: int = 5, **kwargs) -> list[dict]:
    """Rows {T, B, I, H, pass, <impl name>: ms, ...} for forward and forward + backward.

    Keyword arguments go to :func:`compare` (e.g. ``statistic="min"``).
    """
    impls = IMPLEMENTATIONS if impls is None else impls
    rows = []
    for T, B, I, H in sizes:
        for backward in (False, True):
            medians = compare(impls, T, B, I, H, backward=backward, repeats=repeats, **kwargs)
            row = {"T": T, "B": B, "I": I, "H": H,
                   "pass": "forward + backward" if backward else "forward"}
            row.update({name: 1e3 * s for name, s in medians.items()})
            rows.append(row)
    return rows


def format_table(rows: Sequence[dict], reference: str = "nn.LSTM") -> str:
    """A text table of :func:`benchmark` rows: milliseconds, and the ratio to ``reference``."""
    names = [k for k in rows[0] if k not in ("T", "B", "I", "H", "pass")]
    head = f"{'T':>4} {'B':>4} {'I':>4} {'H':>4}  {'pass':<18}" + "".join(f"{n:>24}" for n in names)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = "".join(f"{r[n]:>12.2f} ms ({r[n] / r[reference]:4.1f}x)" for n in names)
        lines.append(f"{r['T']:>4} {r['B']:>4} {r['I']:>4} {r['H']:>4}  {r['pass']:<18}{cells}")
    return "\n".join(lines)


def plot_benchmark(rows: Sequence[dict], *, ax=None, title: str = ""):
    """Grouped bars of milliseconds per call, one group per (size, pass), log y axis."""
    import numpy as np

    from lstm_course.teach.plots import new_axes

    if ax is None:
        _, ax = new_axes(width=7.5, height=3.8)
    names = [k for k in rows[0] if k not in ("T", "B", "I", "H", "pass")]
    x = np.arange(len(rows))
    width = 0.8 / len(names)
    hatches = ["///", "...", "xx", "", "\\\\", "oo"]       # colour is not the only cue
    for k, name in enumerate(names):
        ax.bar(x + (k - (len(names) - 1) / 2) * width, [r[name] for r in rows], width, label=name,
               hatch=hatches[k % len(hatches)], edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, [f"B={r['B']}, H={r['H']}\n" + ("fwd" if r["pass"] == "forward" else "fwd+bwd")
                      for r in rows], fontsize="small")
    ax.set_yscale("log")
    ax.set_ylabel("milliseconds per call")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def recurrence_backward_time(T: int, *, use_unbind: bool, B: int = 16, I: int = 32,
                             repeats: int = 5, statistic: str = "median",
                             clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds (median or min of ``repeats``) of forward + backward of a tiny recurrence
    h = tanh(h + x_t) over T steps.

    The loop reads x_t either as ``xs[t]`` (indexing: each step's backward writes a full-size
    (T, B, I) gradient, so the backward pass costs O(T^2)) or from ``xs.unbind(0)`` (one
    backward node for all steps: O(T)). ``clock`` as in :func:`compare_runs`.
    """
    xs = torch.randn(T, B, I, requires_grad=True)
    times = []
    for _ in range(repeats + 1):
        start = clock()
        h = xs.new_zeros(B, I)
        steps = xs.unbind(0) if use_unbind else (xs[t] for t in range(T))
        for x_t in steps:
            h = torch.tanh(h + x_t)
        h.sum().backward()
        times.append(clock() - start)
        xs.grad = None
    return {"median": statistics.median, "min": min}[statistic](times[1:])


@contextmanager
def onednn(enabled: bool) -> Iterator[None]:
    """Switch PyTorch's oneDNN (MKL-DNN) CPU kernels on or off inside a ``with`` block.

    With oneDNN off, ``nn.LSTM`` on the CPU runs PyTorch's generic per-step implementation.
    """
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before
