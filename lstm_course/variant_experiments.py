"""Chapter 10's experiments: the ablation of LSTM variants, and taggers for the bidirectional test.

In the spirit of Greff et al. (2017): one small per-step labelling task (the store-and-recall
stream of :mod:`lstm_course.variants_data`), one recipe (Adam, clipping, fixed steps), several
seeds per variant, and the held-out loss as the score. Every variant runs through the same
generic :class:`lstm_course.lstm.Layer`, so differences come from the cells alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_course.lstm import LSTM
from lstm_course.seed import seed_everything
from lstm_course.train import accuracy, fit
from lstm_course.variants import set_forget_bias, variant_cell
from lstm_course.variants_data import store_recall_batch


class StepTagger(nn.Module):
    """A recurrent network of ``cell`` cells with a linear read-out at every step.

    x: (T, batch, input_size) -> logits: (T, batch, n_classes)
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, n_classes: int,
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        self.rnn = LSTM(input_size, hidden_size, num_layers, dropout=dropout,
                        bidirectional=bidirectional, cell=variant_cell(cell))
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_classes)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out)


@dataclass
class Recipe:
    """How every variant is trained and scored (the same for all of them)."""

    T: int = 20
    batch: int = 32
    steps: int = 150
    hidden_size: int = 16
    lr: float = 1e-2
    clip: float = 1.0
    n_symbols: int = 4
    p_store: float = 0.2
    test_batch: int = 500


@dataclass
class Run:
    """One trained model and its scores: held-out loss and accuracy at the training length."""

    model: StepTagger
    train_losses: list[float]
    test_loss: float
    test_accuracy: float


def tagging_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy over every step of every sequence. logits: (T, batch, C), y: (T, batch)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) over all steps of a held-out batch."""
    model.eval()
    logits = model(torch.from_numpy(x))
    yt = torch.from_numpy(y)
    return float(tagging_loss(logits, yt)), accuracy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1))


def train_variant(cell: str, seed: int, recipe: Recipe | None = None, *,
                  forget_bias: float | None = None, show_progress: bool = False) -> Run:
    """Train a ``cell`` tagger on the store-and-recall stream; score it on fresh sequences."""
    recipe = recipe or Recipe()
    rng = seed_everything(seed)
    model = StepTagger(cell, recipe.n_symbols + 1, recipe.hidden_size, recipe.n_symbols)
    if forget_bias is not None:
        set_forget_bias(model, forget_bias)

    def loss_fn() -> Tensor:
        x, y = store_recall_batch(recipe.T, recipe.batch, rng, n_symbols=recipe.n_symbols,
                                  p_store=recipe.p_store)
        return tagging_loss(model(torch.from_numpy(x)), torch.from_numpy(y))

    model.train()
    losses = fit(loss_fn, model.parameters(), recipe.steps, lr=recipe.lr, clip=recipe.clip,
                 desc=f"{cell}, seed {seed}", show_progress=show_progress)
    x, y = store_recall_batch(recipe.T, recipe.test_batch, np.random.default_rng(1000 + seed),
                              n_symbols=recipe.n_symbols, p_store=recipe.p_store)
    loss, acc = evaluate(model, x, y)
    return Run(model, losses, loss, acc)


class WordTagger(nn.Module):
    """Embedding -> the course's LSTM (any cell, stacked, bidirectional) -> linear -> log-softmax.

    words: (T, batch) long -> log-probabilities (T, batch, n_tags). Padded positions are fine
    for the forward direction; the backward direction reads the padding first, as an
    end-of-sentence marker (the loss ignores padded positions).
    """

    def __init__(self, vocab_size: int, n_tags: int, embedding_dim: int = 16, hidden_size: int = 32,
                 *, cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = LSTM(embedding_dim, hidden_size, num_layers, dropout=dropout,
                        bidirectional=bidirectional, cell=variant_cell(cell))
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), n_tags)

    def forward(self, words: Tensor) -> Tensor:
        out, _ = self.rnn(self.embedding(words))
        return torch.log_softmax(self.head(out), dim=-1)
