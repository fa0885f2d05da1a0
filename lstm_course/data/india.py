"""The running example of Chapters 3 and 4: "i stay in india . ... i speak ___" read by a hand-set LSTM.

The story and its words are those of :mod:`lstm_course.data.languages` (the task Chapter 8
trains on): "i stay in <country> .", ``n_filler`` words of grammar sentences, optionally a move
("i arrived in <country> ." and more filler), then "i speak"; the blank is the language of the
last country named. Inputs are one-hot vectors over ``languages.VOCAB``.

The cell that solves it is set by hand so that every number can be read. It knows the first
four countries of ``languages.COUNTRIES`` (``COUNTRIES``: india, france, germany, spain), one
hidden unit each, which keeps its heatmaps small; every other word of the vocabulary, the other
four countries included, is filler to it. Gate order i, f, g, o as in PyTorch; the weights read
[h_{t-1}, x_t] but ignore h_{t-1}:

* input gate i_t: open (about 1) on one of its country words, shut (about 0) on every other word;
* candidate c~_t: about +1 in the unit of the country just read, 0 elsewhere;
* forget gate f_t: about 1 (keep) on every word except its country words, where it is about 0
  (the context changed: erase the old country before writing the new one);
* output gate o_t: open only on the word "speak", so the memory stays hidden until it is needed.

The read-out turns h_t into language probabilities: softmax(gain * h_t), ``LANGUAGES[j]`` for
unit j.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lstm_course.data import languages
from lstm_course.scratch import lstm as numpy_lstm

#: The countries the hand-set cell has a unit for: the first four of ``languages.COUNTRIES``.
COUNTRIES: tuple[str, ...] = tuple(languages.COUNTRIES)[:4]
#: Their languages, in the same order (``languages.COUNTRIES[c]``): unit j answers LANGUAGES[j].
LANGUAGES: tuple[str, ...] = tuple(languages.COUNTRIES[c] for c in COUNTRIES)

VOCAB, INDEX = languages.VOCAB, languages.INDEX


def story(country: str, n_filler: int, rng: np.random.Generator, *,
          moved_to: str | None = None) -> list[str]:
    """Words of one story (``languages.language_sentence``): the country, ``n_filler`` filler
    words, then "i speak".

    With ``moved_to``, "i arrived in <moved_to> ." follows the filler, then ``n_filler`` more
    filler words. Both countries must be among ``COUNTRIES`` (the cell has no unit for others).
    """
    for name in (country, moved_to):
        if name is not None and name not in COUNTRIES:
            raise ValueError(f"the hand-set cell knows the countries {COUNTRIES}, not {name!r}")
    return languages.language_sentence(country, n_filler, rng, moved_to=moved_to)


def one_hot(tokens: Sequence[str]) -> np.ndarray:
    """xs: (T, 1, len(VOCAB)), a batch of one sequence of one-hot word vectors."""
    xs = np.zeros((len(tokens), 1, len(VOCAB)))
    xs[np.arange(len(tokens)), 0, [INDEX[w] for w in tokens]] = 1.0
    return xs


def hand_set_weights(strength: float = 20.0,
                     forget_bias: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Packed W: (4H, H + V) and b: (4H,) for the cell described above (H = len(COUNTRIES),
    V = len(VOCAB)).

    ``strength`` s sets how hard the gates switch: a gate reads +s/2 or -s/2, so it is
    sigmoid(s/2) open and sigmoid(-s/2) shut. ``forget_bias`` forces the forget gate: its
    weights become zero and its bias ``forget_bias``, so f_t = sigmoid(forget_bias) on every
    word (+30: keep everything; -30: erase everything; in between: a fixed leak).
    """
    H, V = len(COUNTRIES), len(VOCAB)
    W, b = np.zeros((4 * H, H + V)), np.zeros(4 * H)
    blocks = {name: slice(k * H, (k + 1) * H) for k, name in enumerate(numpy_lstm.GATE_ORDER)}
    countries = [H + INDEX[c] for c in COUNTRIES]
    W[blocks["i"], countries], b[blocks["i"]] = strength, -strength / 2
    W[blocks["f"], countries], b[blocks["f"]] = -strength, strength / 2
    W[blocks["g"].start + np.arange(H), countries] = strength
    W[blocks["o"], H + INDEX["speak"]], b[blocks["o"]] = strength, -strength / 2
    if forget_bias is not None:
        W[blocks["f"]] = 0.0
        b[blocks["f"]] = forget_bias
    return W, b


def language_probabilities(h: np.ndarray, gain: float = 10.0) -> np.ndarray:
    """softmax(gain * h) over LANGUAGES; h: (..., H). Returns (..., len(LANGUAGES))."""
    a = gain * np.asarray(h)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run(tokens: Sequence[str], W: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Read a story with the NumPy reference cell from zero states.

    Returns the gates and states of every step, each (T, H): "i", "f", "g" (the candidate),
    "o", "c", "h"; and "p": (len(LANGUAGES),), the language probabilities after the last word.
    """
    H = len(COUNTRIES)
    zeros = np.zeros((1, H))
    hs, cs, caches = numpy_lstm.lstm_forward(one_hot(tokens), zeros, zeros, W, b)
    out = {k: np.stack([getattr(cache, k)[0] for cache in caches]) for k in ("i", "f", "g", "o")}
    out.update(c=cs[:, 0], h=hs[:, 0], p=language_probabilities(hs[-1, 0]))
    return out
