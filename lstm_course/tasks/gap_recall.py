"""Chapter 1's experiment: a plain RNN and an LSTM on delayed recall, under one protocol.

Both models read a delayed-recall sequence (:mod:`lstm_course.data.recall`) and answer from their
last hidden state (:class:`lstm_course.modules.models.SequenceClassifier`). One :class:`Protocol`
(hidden units, Adam steps, batch, learning rate, clipping) trains both; the only difference is
the recurrent layer, and for the LSTM its forget-gate bias at initialisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from lstm_course.data.recall import recall_batch
from lstm_course.modules.models import SequenceClassifier
from lstm_course.seed import seed_everything
from lstm_course.train import accuracy, fit

N_SYMBOLS, N_DISTRACTORS = 4, 4
INPUT_SIZE = N_SYMBOLS + N_DISTRACTORS + 1


@dataclass(frozen=True)
class Protocol:
    """How every model is trained and scored: the same for the RNN and the LSTM."""

    hidden_size: int = 16
    steps: int = 600         # Adam steps
    batch: int = 32          # sequences per step
    lr: float = 3e-3
    clip: float = 1.0        # global gradient norm
    test_batch: int = 1000   # fresh held-out sequences, seeded per run


def make_model(kind: str, hidden_size: int, forget_bias: float | None = None) -> SequenceClassifier:
    """A ``kind`` ("rnn" or "lstm") classifier for delayed recall."""
    return SequenceClassifier(kind, input_size=INPUT_SIZE, hidden_size=hidden_size,
                              n_classes=N_SYMBOLS, forget_bias=forget_bias)


def train_recall(kind: str, gap: int, seed: int, protocol: Protocol = Protocol(), *,
                 forget_bias: float | None = None, device: torch.device | str = "cpu",
                 show_progress: bool = False) -> tuple[float, list[float]]:
    """Train one model on delayed recall across ``gap`` distractors; return (test accuracy, losses).

    The seed fixes the initial weights and the training batches; the test batch is seeded by
    ``100 + seed``, so it is fresh but repeatable.
    """
    data_rng = seed_everything(seed)
    model = make_model(kind, protocol.hidden_size, forget_bias).to(device)

    def loss_fn() -> torch.Tensor:
        x, y = recall_batch(protocol.batch, gap, data_rng)
        return F.cross_entropy(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))

    losses = fit(loss_fn, model.parameters(), protocol.steps, lr=protocol.lr, clip=protocol.clip,
                 desc=f"{kind}, gap {gap}, seed {seed}", show_progress=show_progress)
    x, y = recall_batch(protocol.test_batch, gap, np.random.default_rng(100 + seed))
    with torch.no_grad():
        acc = accuracy(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))
    return acc, losses


def first_input_gradient_ratio(kind: str, gap: int, seed: int, hidden_size: int = 16, *,
                               forget_bias: float | None = None, batch: int = 256) -> float:
    """At initialisation: ||dL/dx_0|| / ||dL/dx_T||, how much gradient reaches the symbol.

    x_0 holds the symbol to remember and x_T the query; the ratio compares the training signal
    at the one input that matters with the one right next to the loss (norms over the batch).
    """
    seed_everything(seed)
    model = make_model(kind, hidden_size, forget_bias)
    x, y = recall_batch(batch, gap, np.random.default_rng(seed))
    xt = torch.from_numpy(x).requires_grad_(True)
    F.cross_entropy(model(xt), torch.from_numpy(y)).backward()
    return float(xt.grad[0].norm() / xt.grad[-1].norm())


_STYLES = [dict(marker="o", linestyle="-"), dict(marker="s", linestyle="--"),
           dict(marker="^", linestyle=":")]


def plot_recall(gaps: Sequence[int], accuracies: Mapping[str, np.ndarray], *, ax=None, title: str = ""):
    """Test accuracy against the gap, one line per model (mean over seeds, seeds as dots).

    ``accuracies[label]`` is (len(gaps), n_seeds). Models differ in colour, line style and
    marker, so the plot reads in grey too; the dashed grey line is chance.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, 3.6))
    for k, (label, acc) in enumerate(accuracies.items()):
        acc = np.asarray(acc, dtype=float)
        style = _STYLES[k % len(_STYLES)]
        ax.plot(gaps, acc.mean(axis=1), color=f"C{k}", label=f"{label} (mean)", **style)
        for j in range(acc.shape[1]):
            ax.scatter(gaps, acc[:, j], color=f"C{k}", marker=style["marker"], s=14, alpha=0.45,
                       label=f"{label} (each seed)" if j == 0 else None)
    ax.axhline(1 / N_SYMBOLS, color="grey", linestyle="-.", linewidth=1,
               label=f"chance ({1 / N_SYMBOLS:.2f})")
    ax.set_ylim(0, 1.05)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(gaps), [str(g) for g in gaps])
    ax.set_xlabel("gap (distractor steps between symbol and query)")
    ax.set_ylabel("test accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax
