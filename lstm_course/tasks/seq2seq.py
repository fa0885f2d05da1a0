"""An LSTM encoder-decoder (sequence to sequence) and the craft of training it.

The encoder LSTM reads the source and hands its final state ``(h, c)`` to the decoder LSTM,
which writes the answer one token at a time, starting from ``BOS`` and ending with ``EOS``.
In training the decoder reads the true previous token (teacher forcing: ``decoder_io`` shifts
the target right by one); in use it reads its own previous guess (free running,
``greedy_decode``).

The craft: a training step that clips the gradient by global norm and logs the norm before
clipping, a learning-rate schedule stepped once per batch, AdamW's decoupled weight decay,
variational recurrent dropout (one dropout mask per sequence, the same at every step),
early stopping on a validation loss, a learning-rate range test, and checkpoints that hold
the optimiser's and the scheduler's state so that training resumes exactly.

Shapes (time-major): ``src: (S, batch)``, ``target: (L, batch)`` int64; decoder inputs and
outputs ``(L + 1, batch)``; logits ``(L + 1, batch, vocab)``; states ``(1, batch, hidden)``.
Functions move batches to the model's device, so the same code runs on a CPU or a GPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lstm_course.data.digits import BOS, EOS, VOCAB_SIZE, reverse_batch
from lstm_course.modules.lstm import LSTMState
from lstm_course.modules.models import set_forget_bias
from lstm_course.train import progress

Batch = tuple[torch.Tensor, torch.Tensor]


class Seq2Seq(nn.Module):
    """Embedding (shared by source and target tokens) -> encoder LSTM -> decoder LSTM -> linear.

    ``forward(src, dec_in)`` runs the decoder with teacher forcing and returns the logits
    ``(L + 1, batch, vocab)``. With ``recurrent_dropout = p > 0``, training runs the LSTMs one
    step at a time and multiplies the previous hidden state ``h_{t-1}``, where it enters the
    gates, by a mask of zeros (probability p) and ``1 / (1 - p)`` drawn once per sequence and
    kept for every step (variational recurrent dropout, after Gal & Ghahramani 2016); in
    evaluation, and with ``p = 0``, they run as one fused ``nn.LSTM`` call.
    """

    def __init__(self, vocab_size: int = VOCAB_SIZE, hidden_size: int = 64, embedding_dim: int = 16,
                 recurrent_dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.encoder = nn.LSTM(embedding_dim, hidden_size)
        self.decoder = nn.LSTM(embedding_dim, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)
        self.recurrent_dropout = recurrent_dropout
        set_forget_bias(self.encoder, 1.0)
        set_forget_bias(self.decoder, 1.0)

    def _run(self, lstm: nn.LSTM, x: torch.Tensor, state: LSTMState | None) -> tuple[torch.Tensor, LSTMState]:
        p = self.recurrent_dropout
        if not (self.training and p > 0):
            return lstm(x, state)
        B = x.shape[1]
        H = lstm.hidden_size
        if state is None:
            state = (x.new_zeros(1, B, H), x.new_zeros(1, B, H))
        keep = torch.bernoulli(x.new_full((1, B, H), 1 - p)) / (1 - p)
        h, c = state
        outputs = []
        for x_t in x.unbind(0):
            out, (h, c) = lstm(x_t.unsqueeze(0), (h * keep, c))
            outputs.append(out)
        return torch.cat(outputs), (h, c)

    def encode(self, src: torch.Tensor) -> LSTMState:
        """src: (S, batch) -> the encoder's final state (h, c), each (1, batch, hidden)."""
        _, state = self._run(self.encoder, self.embedding(src), None)
        return state

    def decode_step(self, token: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One decoder step (no dropout): token (batch,) -> logits (batch, vocab), new state."""
        out, state = self.decoder(self.embedding(token).unsqueeze(0), state)
        return self.head(out[0]), state

    def forward(self, src: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        out, _ = self._run(self.decoder, self.embedding(dec_in), self.encode(src))
        return self.head(out)


def decoder_io(target: torch.Tensor, bos: int = BOS, eos: int = EOS) -> tuple[torch.Tensor, torch.Tensor]:
    """target (L, batch) -> decoder inputs ``[BOS, y_1 .. y_L]`` and outputs ``[y_1 .. y_L, EOS]``,
    each (L + 1, batch): the input at step t is the output of step t - 1 (shifted right)."""
    first = torch.full_like(target[:1], bos)
    last = torch.full_like(target[:1], eos)
    return torch.cat([first, target]), torch.cat([target, last])


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def teacher_forced_loss(model: Seq2Seq, src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per output token, the decoder reading the true previous tokens."""
    device = _device(model)
    dec_in, dec_out = decoder_io(target.to(device))
    logits = model(src.to(device), dec_in)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), dec_out.reshape(-1))


def free_running_loss(model: Seq2Seq, src: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per output token, the decoder reading its own previous guesses."""
    device = _device(model)
    _, dec_out = decoder_io(target.to(device))
    state = model.encode(src.to(device))
    token = torch.full_like(dec_out[0], BOS)
    logits = []
    for _ in range(dec_out.shape[0]):
        step_logits, state = model.decode_step(token, state)
        logits.append(step_logits)
        token = step_logits.argmax(-1)
    logits = torch.stack(logits)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), dec_out.reshape(-1))


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Free running: from BOS, feed back the most likely token ``n_steps`` times -> (n_steps, batch)."""
    was_training = model.training
    model.eval()
    state = model.encode(src.to(_device(model)))
    token = torch.full((src.shape[1],), BOS, dtype=torch.long, device=_device(model))
    tokens = []
    for _ in range(n_steps):
        logits, state = model.decode_step(token, state)
        token = logits.argmax(-1)
        tokens.append(token)
    model.train(was_training)
    return torch.stack(tokens)


def answer_lengths(tokens: torch.Tensor) -> torch.Tensor:
    """(n_steps, batch) decoded tokens -> number of tokens before the first EOS (n_steps if none)."""
    is_eos = tokens == EOS
    first = is_eos.int().argmax(0)
    return torch.where(is_eos.any(0), first, torch.full_like(first, tokens.shape[0]))


@torch.no_grad()
def accuracy_by_length(model: Seq2Seq, lengths: Sequence[int], n: int = 500,
                       seed: int = 1) -> dict[str, np.ndarray]:
    """Test accuracies of fresh strings of each length, one entry per length.

    ``teacher_forced_token``, ``free_running_token``: fraction of the L + 1 output tokens
    (digits and EOS) that are right when the decoder reads the true previous tokens / its own
    guesses; ``sequence``: fraction of answers right as a whole (identical both ways: an answer
    that is right everywhere fed the decoder the true tokens); ``answer_length``: mean number
    of tokens the free-running decoder writes before EOS (out of at most 2L + 2).
    """
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    device = _device(model)
    out: dict[str, list[float]] = {"teacher_forced_token": [], "free_running_token": [],
                                   "sequence": [], "answer_length": []}
    for L in lengths:
        src, target = reverse_batch(n, L, rng)
        dec_in, dec_out = decoder_io(target.to(device))
        forced = model(src.to(device), dec_in).argmax(-1)
        free = greedy_decode(model, src, 2 * L + 2)
        right = free[: L + 1] == dec_out
        out["teacher_forced_token"].append(float((forced == dec_out).float().mean()))
        out["free_running_token"].append(float(right.float().mean()))
        out["sequence"].append(float(right.all(0).float().mean()))
        out["answer_length"].append(float(answer_lengths(free).float().mean()))
    model.train(was_training)
    return {k: np.array(v) for k, v in out.items()}


def train_step(model: Seq2Seq, optimiser: torch.optim.Optimizer, scheduler, src: torch.Tensor,
               target: torch.Tensor, *, clip: float | None = 1.0,
               loss_fn: Callable = teacher_forced_loss) -> tuple[float, float]:
    """One update: loss, backward, clip the global gradient norm to ``clip`` (None: no clipping),
    optimiser step, scheduler step (once per batch). Returns (loss, gradient norm before clipping)."""
    optimiser.zero_grad(set_to_none=True)
    loss = loss_fn(model, src, target)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(model.parameters(), math.inf if clip is None else clip)
    optimiser.step()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach()), float(norm)


def train_epoch(model: Seq2Seq, optimiser: torch.optim.Optimizer, scheduler,
                batches: Sequence[Batch], clip: float | None = 1.0) -> tuple[list[float], list[float]]:
    """``train_step`` on every batch in order; returns the losses and the gradient norms."""
    model.train()
    losses, norms = [], []
    for src, target in batches:
        loss, norm = train_step(model, optimiser, scheduler, src, target, clip=clip)
        losses.append(loss)
        norms.append(norm)
    return losses, norms


def one_cycle(optimiser: torch.optim.Optimizer, max_lr: float, total_steps: int):
    """Warm up from max_lr / 25 to ``max_lr`` over the first 20 % of steps, then anneal (cosine)
    to almost 0; ``step()`` it after every batch."""
    return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=max_lr, total_steps=total_steps,
                                               pct_start=0.2)


def train(model: Seq2Seq, draw: Callable[[int], Batch], steps: int, *, lr: float = 1e-2,
          schedule: bool = True, clip: float | None = 1.0, weight_decay: float = 0.0,
          teacher_forcing: bool = True, desc: str = "training",
          show_progress: bool = True) -> dict[str, np.ndarray]:
    """AdamW for ``steps`` batches ``draw(step)``, with the one-cycle schedule (``schedule``) or a
    constant learning rate. Returns per-step ``loss``, ``grad_norm`` (before clipping), ``lr``."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = one_cycle(optimiser, lr, steps) if schedule else None
    loss_fn = teacher_forced_loss if teacher_forcing else free_running_loss
    history: dict[str, list[float]] = {"loss": [], "grad_norm": [], "lr": []}
    model.train()
    for step in progress(range(steps), total=steps, desc=desc, enabled=show_progress):
        history["lr"].append(optimiser.param_groups[0]["lr"])
        src, target = draw(step)
        loss, norm = train_step(model, optimiser, scheduler, src, target, clip=clip, loss_fn=loss_fn)
        history["loss"].append(loss)
        history["grad_norm"].append(norm)
    return {k: np.array(v) for k, v in history.items()}


def random_lengths(lengths: Sequence[int], batch: int, seed: int) -> Callable[[int], Batch]:
    """``draw(step)``: a fresh batch of strings of one length drawn from ``lengths``."""
    rng = np.random.default_rng(seed)
    return lambda step: reverse_batch(batch, int(rng.choice(lengths)), rng)


def lr_range_test(model: Seq2Seq, draw: Callable[[int], Batch], *, lr_min: float = 1e-4,
                  lr_max: float = 1.0, steps: int = 100, desc: str = "LR range test",
                  show_progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Smith's range test on a copy of ``model``: raise the learning rate geometrically from
    ``lr_min`` to ``lr_max``, one step per batch, and record the loss at each; stop once the
    loss exceeds four times its best. Returns (learning rates, losses)."""
    model = copy.deepcopy(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr_min, weight_decay=0.0)
    gamma = (lr_max / lr_min) ** (1 / (steps - 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma)
    lrs, losses = [], []
    model.train()
    for step in progress(range(steps), total=steps, desc=desc, enabled=show_progress):
        lrs.append(optimiser.param_groups[0]["lr"])
        loss, _ = train_step(model, optimiser, scheduler, *draw(step), clip=None)
        losses.append(loss)
        if not math.isfinite(loss) or loss > 4 * min(losses):
            break
    return np.array(lrs), np.array(losses)


def steepest_descent_lr(lrs: np.ndarray, losses: np.ndarray, smooth: int = 5) -> float:
    """The learning rate where the smoothed loss of a range test falls fastest (per log-LR)."""
    kernel = np.ones(smooth) / smooth
    smoothed = np.convolve(losses, kernel, mode="valid")
    log_lr = np.log(lrs[smooth // 2: smooth // 2 + len(smoothed)])
    slope = np.gradient(smoothed, log_lr)
    return float(np.exp(log_lr[int(np.argmin(slope))]))


@torch.no_grad()
def dataset_loss(model: Seq2Seq, data: Batch, batch_size: int = 512) -> float:
    """Mean teacher-forced cross-entropy per token over a fixed data set, in evaluation mode."""
    was_training = model.training
    model.eval()
    src, target = data
    total = 0.0
    for i in range(0, src.shape[1], batch_size):
        part = slice(i, i + batch_size)
        n = src[:, part].shape[1]
        total += float(teacher_forced_loss(model, src[:, part], target[:, part])) * n
    model.train(was_training)
    return total / src.shape[1]


def fit_epochs(model: Seq2Seq, train_set: Batch, val_set: Batch, epochs: int, *, batch_size: int = 32,
               lr: float = 1e-2, weight_decay: float = 0.0, clip: float | None = 1.0,
               patience: int | None = None, seed: int = 0, desc: str = "training",
               show_progress: bool = True) -> dict:
    """Epochs over a fixed training set (shuffled, constant learning rate), the validation loss
    after each. With ``patience``, stop once it has not improved for ``patience`` epochs
    (early stopping). Either way the model ends with the weights of its best validation epoch.

    Returns ``{"train": [...], "val": [...], "best_epoch": k}`` (epochs counted from 1).
    """
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    src, target = train_set
    history = {"train": [], "val": [], "best_epoch": 0}
    best, best_state = math.inf, None
    for epoch in progress(range(1, epochs + 1), total=epochs, desc=desc, enabled=show_progress):
        order = torch.randperm(src.shape[1], generator=generator)
        batches = [(src[:, idx], target[:, idx]) for idx in order.split(batch_size)]
        losses, _ = train_epoch(model, optimiser, None, batches, clip)
        history["train"].append(float(np.mean(losses)))
        history["val"].append(dataset_loss(model, val_set))
        if history["val"][-1] < best:
            best, history["best_epoch"] = history["val"][-1], epoch
            best_state = copy.deepcopy(model.state_dict())
        elif patience is not None and epoch - history["best_epoch"] >= patience:
            break
    model.load_state_dict(best_state)
    return history


def early_stopping_epoch(val_losses: Sequence[float], patience: int) -> tuple[int, int]:
    """Where early stopping with ``patience`` would act on a validation curve: (the epoch it
    stops after, the best epoch, whose weights it keeps); epochs counted from 1."""
    best, best_epoch = math.inf, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, best_epoch = loss, epoch
        elif epoch - best_epoch >= patience:
            return epoch, best_epoch
    return len(val_losses), best_epoch


def checkpoint(model: nn.Module, optimiser: torch.optim.Optimizer, scheduler=None, **extra) -> dict:
    """Everything needed to resume, as copies: the model's and the optimiser's ``state_dict``
    (Adam's running averages and step counts), the scheduler's, and ``extra`` (the step, ...).

    ``state_dict()`` returns the live tensors, which further training changes in place, so a
    checkpoint kept in memory must be a deep copy.
    """
    return copy.deepcopy({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                          "scheduler": None if scheduler is None else scheduler.state_dict(),
                          "extra": extra})


def restore(saved: dict, model: nn.Module, optimiser: torch.optim.Optimizer, scheduler=None) -> dict:
    """Load a :func:`checkpoint` into existing objects (created the same way); returns ``extra``."""
    model.load_state_dict(saved["model"])
    optimiser.load_state_dict(saved["optimiser"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    return saved["extra"]


def save_checkpoint(path, model: nn.Module, optimiser: torch.optim.Optimizer, scheduler=None,
                    **extra) -> None:
    """Write :func:`checkpoint` to ``path`` (a file name or a binary file object) with ``torch.save``."""
    torch.save(checkpoint(model, optimiser, scheduler, **extra), path)


def load_checkpoint(path, model: nn.Module, optimiser: torch.optim.Optimizer, scheduler=None) -> dict:
    """Read what :func:`save_checkpoint` wrote, onto the model's device, and :func:`restore` it."""
    return restore(torch.load(path, map_location=_device(model)), model, optimiser, scheduler)
