"""The LSTM part-of-speech tagger, batched, with the pieces to train and evaluate it.

The model is the classic one (embedding -> LSTM -> linear -> log-softmax, trained with
NLLLoss), with three fixes to the well-known single-sentence version:

* no ``self.hidden``: each call starts from the zero state, so nothing leaks from one
  sentence into the next and no graph is kept alive across training steps;
* batches of padded sentences (time-major, ``(T, batch)``) instead of one sentence at a time;
  padded positions get the target ``IGNORE`` (-100, NLLLoss's ``ignore_index``);
* unknown words are mapped to the vocabulary's ``<unk>`` index, and ``word_dropout`` replaces
  a few training words by ``<unk>`` so that its embedding is trained.

Shapes: ``words: (T, batch)`` long -> log-probabilities ``(T, batch, n_tags)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from lstm_course.data.tagging import AMBIGUOUS_WORDS, TaggedSentence
from lstm_course.train import fit
from lstm_course.vocab import Vocab

#: Target index of padded positions (the default ``ignore_index`` of NLLLoss).
IGNORE = -100


class LSTMTagger(nn.Module):
    """Embedding -> LSTM -> linear -> log-softmax over tags, at every position.

    ``forward(words, lengths=None)``: ``words`` is (T, batch) (or (T,) for one sentence,
    giving (T, n_tags)); ``lengths`` (batch,) is needed only when ``bidirectional`` and the
    batch is padded, so the backward direction starts at each sentence's real last word.
    """

    def __init__(self, vocab_size: int, tagset_size: int, embedding_dim: int = 32,
                 hidden_dim: int = 64, *, bidirectional: bool = False):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, bidirectional=bidirectional)
        self.hidden2tag = nn.Linear(hidden_dim * (2 if bidirectional else 1), tagset_size)

    def forward(self, words: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        single = words.dim() == 1
        if single:
            words = words.unsqueeze(1)
        embeds = self.word_embeddings(words)
        if lengths is not None:
            packed = pack_padded_sequence(embeds, lengths.cpu(), enforce_sorted=False)
            lstm_out, _ = pad_packed_sequence(self.lstm(packed)[0], total_length=words.shape[0])
        else:
            lstm_out, _ = self.lstm(embeds)
        scores = torch.log_softmax(self.hidden2tag(lstm_out), dim=-1)
        return scores[:, 0] if single else scores


def build_vocabs(sentences: Sequence[TaggedSentence]) -> tuple[Vocab, Vocab]:
    """(word vocabulary with <pad> and <unk>, tag vocabulary without specials), in order of
    first appearance."""
    words, tags = Vocab(), Vocab(specials=())
    for sentence in sentences:
        for word in sentence.words:
            words.add(word)
        for tag in sentence.tags:
            tags.add(tag)
    return words, tags


def encode_batch(sentences: Sequence[TaggedSentence], words: Vocab,
                 tags: Vocab) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded tensors ``(word_ids (T, batch), tag_ids (T, batch), lengths (batch,))``.

    Word padding is ``words.pad_index``; tag padding is ``IGNORE``.
    """
    w = [words.encode(s.words) for s in sentences]
    t = [torch.tensor([tags.index(x) for x in s.tags], dtype=torch.long) for s in sentences]
    lengths = torch.tensor([len(s.words) for s in sentences], dtype=torch.long)
    return pad_sequence(w, padding_value=words.pad_index), pad_sequence(t, padding_value=IGNORE), lengths


def word_dropout(word_ids: torch.Tensor, p: float, unk_index: int, pad_index: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A copy of ``word_ids`` with each non-padding entry replaced by ``unk_index`` with
    probability ``p`` (trains the unknown-word embedding)."""
    drop = torch.rand(word_ids.shape, generator=generator) < p
    drop &= word_ids != pad_index
    return torch.where(drop.to(word_ids.device), torch.full_like(word_ids, unk_index), word_ids)


def tagging_loss(model: nn.Module, word_ids: torch.Tensor, tag_ids: torch.Tensor,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean NLL over the real (non-padded) positions."""
    log_probs = model(word_ids, lengths) if lengths is not None else model(word_ids)
    return nn.functional.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), tag_ids.reshape(-1),
                                  ignore_index=IGNORE)


def train_tagger(model: nn.Module, sentences: Sequence[TaggedSentence], words: Vocab, tags: Vocab,
                 *, steps: int, batch_size: int = 32, lr: float = 1e-2, p_unk: float = 0.05,
                 seed: int = 0, use_lengths: bool = False, desc: str = "training tagger",
                 show_progress: bool = True) -> list[float]:
    """Adam on random mini-batches of sentences (with word dropout); returns the loss per step."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device

    def loss_fn() -> torch.Tensor:
        batch = [sentences[i] for i in rng.integers(len(sentences), size=batch_size)]
        word_ids, tag_ids, lengths = encode_batch(batch, words, tags)
        word_ids = word_dropout(word_ids, p_unk, words.unk_index, words.pad_index, gen)
        return tagging_loss(model, word_ids.to(device), tag_ids.to(device),
                            lengths if use_lengths else None)

    model.train()
    return fit(loss_fn, model.parameters(), steps, lr=lr, clip=1.0, desc=desc,
               show_progress=show_progress)


@torch.no_grad()
def predict(model: nn.Module, sentences: Sequence[TaggedSentence], words: Vocab, tags: Vocab, *,
            use_lengths: bool = False, batch_size: int = 512) -> list[list[str]]:
    """The model's tags for every sentence (arg-max of the log-probabilities)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[list[str]] = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        word_ids, _, lengths = encode_batch(batch, words, tags)
        log_probs = model(word_ids.to(device), lengths) if use_lengths else model(word_ids.to(device))
        best = log_probs.argmax(dim=-1).cpu()
        out.extend(tags.decode(best[:n, j]) for j, n in enumerate(lengths.tolist()))
    return out


def predict_unpadded(model: nn.Module, sentences: Sequence[TaggedSentence], words: Vocab,
                     tags: Vocab) -> list[list[str]]:
    """Like :func:`predict`, but each sentence is tagged in a batch of sentences of its own length,
    so no padding is involved: the ground truth for a model run on padded batches."""
    by_length: dict[int, list[int]] = {}
    for k, sentence in enumerate(sentences):
        by_length.setdefault(len(sentence.words), []).append(k)
    out: list[list[str]] = [[] for _ in sentences]
    for group in by_length.values():
        for k, tagged in zip(group, predict(model, [sentences[k] for k in group], words, tags), strict=True):
            out[k] = tagged
    return out


def most_frequent_tag(sentences: Sequence[TaggedSentence]) -> tuple[dict[str, str], str]:
    """The baseline: each word's most frequent training tag, and the overall most frequent tag
    (used for words never seen in training). Ties go to the tag seen first."""
    per_word: dict[str, Counter] = {}
    overall: Counter = Counter()
    for sentence in sentences:
        for word, tag in zip(sentence.words, sentence.tags, strict=True):
            per_word.setdefault(word, Counter())[tag] += 1
            overall[tag] += 1
    return {w: c.most_common(1)[0][0] for w, c in per_word.items()}, overall.most_common(1)[0][0]


def baseline_predict(table: dict[str, str], default: str,
                     sentences: Sequence[TaggedSentence]) -> list[list[str]]:
    """Tag every word with its most frequent training tag (``default`` if it is unknown)."""
    return [[table.get(w, default) for w in s.words] for s in sentences]


def tag_accuracy(predicted: Sequence[Sequence[str]], sentences: Sequence[TaggedSentence], *,
                 where: str = "all", known: Vocab | None = None) -> float:
    """Fraction of words tagged correctly, over all words or a subset of them.

    ``where``: ``"all"``; ``"ambiguous"`` (words of ``AMBIGUOUS_WORDS``); ``"right_context"``
    (words flagged in ``sentence.right_context``: decided by what follows); ``"left_context"``
    (ambiguous words that are not flagged: decided by what precedes); ``"unknown"`` (words not
    in the vocabulary ``known``, which is then required). Returns NaN for an empty subset.
    """
    correct = total = 0
    for pred, sentence in zip(predicted, sentences, strict=True):
        for k, (word, tag) in enumerate(zip(sentence.words, sentence.tags, strict=True)):
            if where == "ambiguous":
                take = word in AMBIGUOUS_WORDS
            elif where == "right_context":
                take = sentence.right_context[k]
            elif where == "left_context":
                take = word in AMBIGUOUS_WORDS and not sentence.right_context[k]
            elif where == "unknown":
                if known is None:
                    raise ValueError('where="unknown" needs the training vocabulary `known`')
                take = word not in known
            elif where == "all":
                take = True
            else:
                raise ValueError(f"unknown subset {where!r}")
            if take:
                total += 1
                correct += pred[k] == tag
    return correct / total if total else float("nan")


def confusion_matrix(predicted: Sequence[Sequence[str]], sentences: Sequence[TaggedSentence],
                     labels: Sequence[str], *, only: Sequence[str] | None = None) -> np.ndarray:
    """Counts ``m[i, j]`` of words with true tag ``labels[i]`` tagged ``labels[j]``
    (only the words in ``only``, if given)."""
    index = {tag: k for k, tag in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for pred, sentence in zip(predicted, sentences, strict=True):
        for word, true, guess in zip(sentence.words, sentence.tags, pred, strict=True):
            if only is None or word in only:
                m[index[true], index[guess]] += 1
    return m
