"""Chapter 10's experiments: an ablation of the LSTM variants, and taggers for the bidirectional test.

The ablation is in the spirit of Greff et al. (2017), sized for a CPU: one small per-step
labelling task (the store-and-recall stream of :mod:`lstm_course.data.store_recall`), one recipe
(Adam, clipping, a fixed number of steps) for every variant, several seeds, and the held-out
loss as the score. Every variant runs through the same generic :class:`lstm_course.modules.lstm.Layer`,
so the differences come from the cells alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_course.data.store_recall import store_recall_batch
from lstm_course.modules.lstm import LSTM
from lstm_course.modules.models import set_forget_bias
from lstm_course.modules.variants import variant_cell
from lstm_course.seed import seed_everything
from lstm_course.train import accuracy, fit


class StepTagger(nn.Module):
    """A recurrent network of ``cell`` cells (a name from :data:`lstm_course.modules.variants.CELL_NAMES`)
    with a linear read-out at every step. x: (T, batch, input_size) -> logits: (T, batch, n_classes)
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, n_classes: int):
        super().__init__()
        self.rnn = LSTM(input_size, hidden_size, cell=variant_cell(cell))
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out)


@dataclass(frozen=True)
class Recipe:
    """How every variant is trained and scored: the same task, budget and optimiser for all."""

    T: int = 20              # sequence length in training and in the held-out score
    p_store: float = 0.1     # probability of a store flag per step
    n_symbols: int = 4
    hidden_size: int = 16
    batch: int = 64
    steps: int = 100         # Adam steps
    lr: float = 2e-2
    clip: float = 1.0
    test_batch: int = 500    # held-out sequences (fresh, seeded per run)


@dataclass
class Run:
    """One trained model: its loss at every training step and its held-out loss and accuracy."""

    model: StepTagger
    train_losses: list[float]
    test_loss: float
    test_accuracy: float


def tagging_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over every step of every sequence. logits: (T, batch, C), y: (T, batch)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` over all steps of a held-out batch (NumPy in, floats out)."""
    model.eval()
    device = next(model.parameters()).device
    logits = model(torch.from_numpy(x).to(device))
    yt = torch.from_numpy(y).to(device)
    flat = logits.reshape(-1, logits.shape[-1])
    return float(tagging_loss(logits, yt)), accuracy(flat, yt.reshape(-1))


def train_variant(cell: str, seed: int, recipe: Recipe | None = None, *,
                  forget_bias: float | None = None, device: torch.device | str = "cpu",
                  show_progress: bool = False) -> Run:
    """Train a ``cell`` :class:`StepTagger` on the store-and-recall stream; score it on fresh data.

    The seed fixes the initial weights, the training batches and the held-out batch.
    ``forget_bias`` (if given) sets the forget-gate bias before training.
    """
    recipe = recipe or Recipe()
    rng = seed_everything(seed)
    model = StepTagger(cell, recipe.n_symbols + 1, recipe.hidden_size, recipe.n_symbols)
    if forget_bias is not None:
        set_forget_bias(model, forget_bias)
    model.to(device)

    def batch(n: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return store_recall_batch(recipe.T, n, generator, n_symbols=recipe.n_symbols,
                                  p_store=recipe.p_store)

    def loss_fn() -> Tensor:
        x, y = batch(recipe.batch, rng)
        return tagging_loss(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device))

    model.train()
    losses = fit(loss_fn, model.parameters(), recipe.steps, lr=recipe.lr, clip=recipe.clip,
                 desc=f"{cell}, seed {seed}", show_progress=show_progress)
    test_loss, test_accuracy = evaluate(model, *batch(recipe.test_batch, np.random.default_rng(1000 + seed)))
    return Run(model, losses, test_loss, test_accuracy)


def summary_table(runs: Mapping[str, Sequence[Run]], parameters: Mapping[str, int]) -> str:
    """A plain-text table: per variant, parameters and held-out loss (mean, sd, min, max) and accuracy."""
    lines = [f"{'variant':<22}{'params':>7}  {'loss mean':>9}  {'sd':>6}  {'min':>6}  {'max':>6}"
             f"  {'accuracy':>8}"]
    for name, group in runs.items():
        loss = np.array([r.test_loss for r in group])
        acc = np.array([r.test_accuracy for r in group])
        lines.append(f"{name:<22}{parameters[name]:>7}  {loss.mean():>9.3f}  {loss.std(ddof=1):>6.3f}"
                     f"  {loss.min():>6.3f}  {loss.max():>6.3f}  {acc.mean():>8.3f}")
    return "\n".join(lines)


def smooth(values: Sequence[float], window: int = 10) -> np.ndarray:
    """Moving average over ``window`` steps (shorter at the start): (n,) -> (n,)."""
    v = np.asarray(values, dtype=float)
    c = np.cumsum(np.insert(v, 0, 0.0))
    n = np.arange(1, len(v) + 1)
    start = np.maximum(n - window, 0)
    return (c[n] - c[start]) / (n - start)


def plot_ablation(runs: Mapping[str, Sequence[Run]], *, title: str = ""):
    """Two panels: training loss (mean over seeds, smoothed) and held-out loss per seed and mean."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (name, group) in enumerate(runs.items()):
        colour = f"C{k}"
        curves = np.array([smooth(r.train_losses) for r in group])
        left.plot(curves.mean(axis=0), color=colour, label=name)
        left.fill_between(np.arange(curves.shape[1]), curves.min(axis=0), curves.max(axis=0),
                          color=colour, alpha=0.15)
        losses = [r.test_loss for r in group]
        right.scatter([k] * len(losses), losses, color=colour, zorder=3)
        right.hlines(np.mean(losses), k - 0.3, k + 0.3, color=colour, linewidth=2.5)
    left.set_yscale("log")
    left.set_xlabel("training step")
    left.set_ylabel("training loss (smoothed)")
    left.legend(fontsize="small")
    left.grid(True, which="both", alpha=0.3)
    right.set_yscale("log")
    right.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_xticks(range(len(runs)), list(runs), rotation=30, ha="right")
    right.set_ylabel("held-out loss (dots: seeds, bar: mean)")
    right.grid(True, which="both", axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


class WordTagger(nn.Module):
    """Embedding -> a (stacked, bidirectional) LSTM -> linear -> log-softmax.

    ``cell=None`` uses the course's standard :class:`lstm_course.modules.lstm.LSTMCell` (with its fused
    whole-sequence path); a name from :data:`lstm_course.modules.variants.CELL_NAMES` uses that variant.
    words: (T, batch) long -> log-probabilities (T, batch, n_tags).

    Padding: on a padded batch a left-to-right network never sees the padding before a real
    word, but the backward direction of a bidirectional one reads the padding first, so a
    sentence's tags can depend on how long the other sentences of its batch are. ``packed=True``
    avoids that: the network is ``torch.nn.LSTM`` (the same parameters as the course's standard
    LSTM, which takes padded tensors only), and ``forward(words, lengths)`` packs the batch
    (Chapter 6), so each direction reads only each sentence's real words.
    """

    def __init__(self, vocab_size: int, n_tags: int, embedding_dim: int = 16, hidden_size: int = 32,
                 *, cell: str | None = None, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, packed: bool = False):
        super().__init__()
        if packed and cell is not None:
            raise ValueError("packed=True runs torch.nn.LSTM, the standard cell only; leave cell=None")
        self.packed = packed
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        if packed:
            self.rnn = nn.LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout,
                               bidirectional=bidirectional)
        else:
            self.rnn = LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout,
                            bidirectional=bidirectional, cell=None if cell is None else variant_cell(cell))
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_tags)

    def forward(self, words: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``lengths`` (batch,): each sentence's number of real words (only with ``packed=True``)."""
        x = self.embedding(words)
        if lengths is None:
            out, _ = self.rnn(x)
        elif not self.packed:
            raise ValueError("lengths need packed=True: the course's LSTM takes padded tensors only")
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
            out, _ = pad_packed_sequence(self.rnn(packed)[0], total_length=words.shape[0])
        return torch.log_softmax(self.head(out), dim=-1)
