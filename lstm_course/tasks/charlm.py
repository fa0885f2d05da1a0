"""A character-level LSTM language model, trained with truncated backpropagation through time.

The text is one long stream of character indices. :func:`batchify` cuts it into ``batch``
parallel streams (columns); training walks down them ``seq_len`` characters at a time
(:func:`get_chunk`), and the LSTM state left at the end of one chunk is the initial state of
the next, so the model can carry context across chunk borders. The gradient, though, stops at
the border: :func:`detach_state` cuts the state from the graph of the previous chunk
(truncated BPTT). Without it, every step would backpropagate through the whole history, ever
slower, or fail because the old graph has been freed.

Shapes (time-major): ``x, y: (seq_len, batch)`` long; logits ``(seq_len, batch, vocab)``;
state ``(h, c)``, each ``(num_layers, batch, hidden_size)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from lstm_course.modules.lstm import LSTMState
from lstm_course.modules.models import set_forget_bias
from lstm_course.train import progress
from lstm_course.vocab import Vocab


class CharLM(nn.Module):
    """Embedding -> LSTM -> linear to next-character logits.

    ``forward(x, state=None) -> (logits, state)``; ``state=None`` starts from zeros.
    """

    def __init__(self, vocab_size: int, hidden_size: int = 128, embedding_dim: int = 32,
                 num_layers: int = 1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, vocab_size)
        set_forget_bias(self.lstm, 1.0)

    def forward(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        out, state = self.lstm(self.embedding(x), state)
        return self.head(out), state


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(N,) -> (N // batch_size, batch_size): column j is the j-th consecutive slice of ``data``;
    the last ``N % batch_size`` items are dropped."""
    n = data.shape[0] // batch_size
    return data[: n * batch_size].reshape(batch_size, n).t().contiguous()


def get_chunk(source: torch.Tensor, i: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``source[i : i + L]`` and targets ``source[i + 1 : i + 1 + L]`` (the next
    characters), ``L = min(seq_len, len(source) - 1 - i)``."""
    L = min(seq_len, source.shape[0] - 1 - i)
    return source[i:i + L], source[i + 1:i + 1 + L]


def detach_state(state: LSTMState) -> LSTMState:
    """The same values, cut from the graph that produced them."""
    return tuple(s.detach() for s in state)


def tbptt_step(model: CharLM, optimiser: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               state: LSTMState | None, clip: float = 1.0) -> tuple[float, LSTMState]:
    """One truncated-BPTT update on the chunk (x, y) from ``state``; returns the mean loss (nats
    per character) and the new state, detached."""
    if state is not None:
        state = detach_state(state)
    optimiser.zero_grad(set_to_none=True)
    logits, state = model(x, state)
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimiser.step()
    return float(loss.detach()), detach_state(state)


@torch.no_grad()
def evaluate(model: CharLM, source: torch.Tensor, seq_len: int = 256) -> float:
    """Mean negative log-likelihood per character (nats) of the batchified ``source``, state
    carried across chunks. Perplexity is ``exp`` of it."""
    model.eval()
    total, count, state = 0.0, 0, None
    for i in range(0, source.shape[0] - 1, seq_len):
        x, y = get_chunk(source, i, seq_len)
        logits, state = model(x, state)
        total += float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                   y.reshape(-1), reduction="sum"))
        count += y.numel()
    model.train()
    return total / count


def train_tbptt(model: CharLM, train: torch.Tensor, val: torch.Tensor, *, steps: int,
                seq_len: int = 64, lr: float = 3e-3, clip: float = 1.0, eval_every: int = 50,
                desc: str = "training", show_progress: bool = True) -> dict[str, list[float]]:
    """Adam with truncated BPTT down the batchified ``train`` (restarting at the top, with a
    zero state, when it runs out); evaluates on ``val`` every ``eval_every`` steps.

    Returns ``{"step": [...], "train": [...], "val": [...]}``: at each evaluation, the mean
    training loss since the previous one and the validation loss (nats per character).
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"step": [], "train": [], "val": []}
    state, i, recent = None, 0, []
    model.train()
    for step in progress(range(1, steps + 1), total=steps, desc=desc, enabled=show_progress):
        if i + 1 >= train.shape[0]:
            state, i = None, 0
        x, y = get_chunk(train, i, seq_len)
        loss, state = tbptt_step(model, optimiser, x, y, state, clip)
        recent.append(loss)
        i += seq_len
        if step % eval_every == 0 or step == steps:
            history["step"].append(step)
            history["train"].append(float(np.mean(recent)))
            history["val"].append(evaluate(model, val))
            recent = []
    return history


def perplexity(nll: float | Sequence[float]) -> float | np.ndarray:
    """exp(mean NLL per character): the number of equally likely characters it amounts to."""
    if isinstance(nll, int | float):
        return math.exp(nll)
    return np.exp(np.asarray(nll, dtype=float))


def temperature_probs(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) over the last axis; temperature > 0."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return torch.softmax(logits / temperature, dim=-1)


@torch.no_grad()
def sample(model: CharLM, vocab: Vocab, prime: str, n_chars: int, *, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> str:
    """``prime`` followed by ``n_chars`` characters drawn one at a time from
    ``temperature_probs`` of the model's next-character logits (never the unknown token)."""
    model.eval()
    device = next(model.parameters()).device
    logits, state = model(vocab.encode(prime).to(device).unsqueeze(1))
    out = []
    for _ in range(n_chars):
        last = logits[-1, 0].cpu()
        if vocab.unk_index is not None:
            last[vocab.unk_index] = -math.inf
        probs = temperature_probs(last, temperature)
        k = int(torch.multinomial(probs, 1, generator=generator))
        out.append(vocab.token(k))
        logits, state = model(torch.tensor([[k]], device=device), state)
    model.train()
    return prime + "".join(out)


@torch.no_grad()
def cell_trace(model: CharLM, vocab: Vocab, text: str) -> np.ndarray:
    """The top layer's cell state c_t after each character of ``text``: (len(text), hidden)."""
    model.eval()
    device = next(model.parameters()).device
    ids = vocab.encode(text).to(device)
    emb = model.embedding(ids.unsqueeze(1))
    state, cs = None, []
    for t in range(len(text)):
        _, state = model.lstm(emb[t:t + 1], state)
        cs.append(state[1][-1, 0].cpu().numpy())
    model.train()
    return np.stack(cs)


def continuations(model: CharLM, vocab: Vocab, primes: Sequence[str], n_chars: int, *,
                  temperature: float = 1.0, generator: torch.Generator | None = None) -> list[str]:
    """What the model writes after each prime (``n_chars`` sampled characters, the prime left out),
    cut at its last whitespace so that no word is counted cut short."""
    out = []
    for prime in primes:
        text = sample(model, vocab, prime, n_chars, temperature=temperature, generator=generator)[len(prime):]
        cut = max(text.rfind(" "), text.rfind("\n"))
        out.append(text[:cut] if cut >= 0 else "")
    return out


_WORD = re.compile(r"[A-Za-z]+")


def words_of(text: str) -> list[str]:
    """The words of ``text``: maximal runs of ASCII letters (``__get__()`` gives ``get``)."""
    return _WORD.findall(text)


def real_word_fraction(text: str, vocabulary: Iterable[str]) -> tuple[float, int]:
    """(fraction of the words of ``text`` that occur in ``vocabulary``, number of words of ``text``).

    Words are compared as written (case-sensitive); a text without words gives ``(nan, 0)``.
    """
    known = vocabulary if isinstance(vocabulary, set | frozenset) else set(vocabulary)
    words = words_of(text)
    if not words:
        return float("nan"), 0
    return sum(w in known for w in words) / len(words), len(words)
