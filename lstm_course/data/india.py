"""The running example: "I stay in India. ... many sentences ... I speak ___" with a hand-set LSTM.

A story names a country, then rambles on with filler sentences, then ends with "I speak"; the
blank is the country's language. The cell that solves it is set by hand, one hidden unit per
country, so every number can be read (gate order i, f, g, o as in PyTorch; the weights read
[h_{t-1}, x_t] but ignore h_{t-1}):

* input gate i_t: open (about 1) on a country word, shut (about 0) on every other word;
* candidate c~_t: about +1 in the unit of the country just read, 0 elsewhere;
* forget gate f_t: about 1 (keep) on every word except a country word, where it is about 0
  (the context changed: erase the old country before writing the new one);
* output gate o_t: open only on the word "speak", so the memory stays hidden until it is needed.

The read-out turns h_t into language probabilities: softmax(gain * h_t), language j for unit j.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lstm_course.scratch import lstm as numpy_lstm

COUNTRIES = ("India", "France", "Germany", "Japan")
LANGUAGES = ("Hindi", "French", "German", "Japanese")

FILLER = (
    "the weather was hot all summer .",
    "we went to the market on foot .",
    "my friends play cricket on sundays .",
    "the train was late again .",
    "i read a long book about trees .",
    "it rained for three days .",
    "our street has a small school .",
    "my sister cooks every evening .",
)
OPENING, MOVE, ENDING = "i stay in {} .", "then i moved to {} .", "i speak"

VOCAB: tuple[str, ...] = tuple(dict.fromkeys(
    [*COUNTRIES, *" ".join([OPENING, MOVE, ENDING, *FILLER]).replace("{}", "").split()]))
INDEX = {word: k for k, word in enumerate(VOCAB)}


def story(country: str, n_filler: int, rng: np.random.Generator, *,
          moved_to: str | None = None) -> list[str]:
    """Tokens of one story: the country, ``n_filler`` filler sentences, then "i speak".

    With ``moved_to``, a second country follows the filler, then ``n_filler`` more sentences.
    """
    def filler() -> list[str]:
        picks = rng.integers(0, len(FILLER), size=n_filler)
        return [w for k in picks for w in FILLER[k].split()]

    tokens = OPENING.format(country).split() + filler()
    if moved_to is not None:
        tokens += MOVE.format(moved_to).split() + filler()
    return tokens + ENDING.split()


def one_hot(tokens: Sequence[str]) -> np.ndarray:
    """xs: (T, 1, len(VOCAB)), a batch of one sequence of one-hot word vectors."""
    xs = np.zeros((len(tokens), 1, len(VOCAB)))
    xs[np.arange(len(tokens)), 0, [INDEX[w] for w in tokens]] = 1.0
    return xs


def hand_set_weights(strength: float = 20.0,
                     forget_bias: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Packed W: (4H, H + V) and b: (4H,) for the cell described above (H = len(COUNTRIES)).

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
