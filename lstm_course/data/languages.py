"""The "I stay in India ... I speak ___" story: name a country, ramble on, ask for its language.

This module is the story's single vocabulary: its countries and their languages, the opening,
the question, the move sentence and the filler stream. Chapter 8 trains networks on it
(``language_batch``); the hand-set cell of Chapters 3 and 4 (:mod:`lstm_course.data.india`)
reads the same words.

A sequence is::

    i stay in <country> . <n_filler filler words> i speak

and the target is the country's language (one of ``len(COUNTRIES)`` classes; chance is
1/8). The filler is ``n_filler`` consecutive words, from a random offset,
of a fixed stream of sentences from the tagging grammar (:mod:`lstm_course.data.tagging`),
each followed by "." (the "." count as words), so it may start and end mid-sentence; it never
names a country or a language. The country is the only clue, ``n_filler + 3`` steps before
the last word, so the task measures memory across a gap of words that do not matter for the
answer.

With ``moved_to``, :func:`language_sentence` tells of a move: after the filler comes
``i arrived in <moved_to> .`` (``MOVE``, words the filler also uses) and ``n_filler`` more filler
words, and the answer is the language of the second country.

Inputs are one-hot vectors over ``VOCAB`` (time-major, like :mod:`lstm_course.data.recall`),
so any ``SequenceClassifier`` can read them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lstm_course.data import tagging

COUNTRIES = {
    "india": "hindi", "france": "french", "germany": "german", "spain": "spanish",
    "italy": "italian", "japan": "japanese", "china": "chinese", "brazil": "portuguese",
}
LANGUAGES = tuple(COUNTRIES.values())
OPENING, QUESTION = ("i", "stay", "in"), ("i", "speak")
#: "i arrived in <country> .": the speaker moves (only grammar words, so ``VOCAB`` is unchanged).
MOVE = ("i", "arrived", "in")

_GRAMMAR_WORDS = (
    *tagging.DETERMINERS, *tagging.NOUNS, *tagging.AMBIGUOUS_WORDS, *tagging.PAST_TRANSITIVE,
    *tagging.BASE_TRANSITIVE, *tagging.BASE_INTRANSITIVE, *tagging.PAST_INTRANSITIVE,
    *tagging.PRESENT_PLURAL, *tagging.SUBJECT_PRONOUNS, *tagging.OBJECT_PRONOUNS,
    *tagging.MODALS, *tagging.COPULAS, *tagging.ADJECTIVES, *tagging.PREPOSITIONS,
    *tagging.ADVERBS, *tagging.MODIFIERS,
)
#: Every word a sequence can contain (the input alphabet), each once.
VOCAB: tuple[str, ...] = tuple(dict.fromkeys([*OPENING, *COUNTRIES, ".", *QUESTION, *_GRAMMAR_WORDS]))
INDEX = {word: k for k, word in enumerate(VOCAB)}


@lru_cache(maxsize=4)
def filler_stream(seed: int = 0, n_words: int = 20_000) -> np.ndarray:
    """A fixed stream of grammar sentences, each followed by ".", as word indices into ``VOCAB``."""
    rng = np.random.default_rng(seed)
    words: list[str] = []
    while len(words) < n_words:
        for sentence in tagging.generate_sentences(100, rng, right_context=0.1):
            words.extend([*sentence.words, "."])
    stream = np.array([INDEX[w] for w in words[:n_words]], dtype=np.int64)
    stream.flags.writeable = False
    return stream


def filler(n_words: int, rng: np.random.Generator) -> list[str]:
    """``n_words`` consecutive words of the filler stream, from a random offset."""
    stream = filler_stream()
    start = int(rng.integers(0, len(stream) - n_words + 1))
    return [VOCAB[i] for i in stream[start:start + n_words]]


def language_sentence(country: str, n_filler: int, rng: np.random.Generator, *,
                      moved_to: str | None = None) -> list[str]:
    """The words of one sequence; its target is ``COUNTRIES[country]``.

    With ``moved_to``, ``MOVE``, the second country, "." and ``n_filler`` more filler words
    follow the filler; the target is then ``COUNTRIES[moved_to]``.
    """
    words = [*OPENING, country, ".", *filler(n_filler, rng)]
    if moved_to is not None:
        words += [*MOVE, moved_to, ".", *filler(n_filler, rng)]
    return [*words, *QUESTION]


def language_batch(batch: int, n_filler: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``x: (n_filler + 7, batch, len(VOCAB))`` float32 one-hot, ``y: (batch,)`` int64 index
    into ``LANGUAGES`` (and into ``COUNTRIES``, in the same order)."""
    stream = filler_stream()
    y = rng.integers(0, len(COUNTRIES), size=batch)
    starts = rng.integers(0, len(stream) - n_filler + 1, size=batch)
    head = np.array([INDEX[w] for w in OPENING], dtype=np.int64)
    country = np.array([INDEX[c] for c in COUNTRIES], dtype=np.int64)[y]
    tail = np.array([INDEX[w] for w in QUESTION], dtype=np.int64)
    body = stream[starts[:, None] + np.arange(n_filler)[None, :]]
    ids = np.concatenate([np.tile(head, (batch, 1)), country[:, None],
                          np.full((batch, 1), INDEX["."]), body, np.tile(tail, (batch, 1))], axis=1)
    x = np.zeros((ids.shape[1], batch, len(VOCAB)), dtype=np.float32)
    x[np.arange(ids.shape[1])[:, None], np.arange(batch)[None, :], ids.T] = 1.0
    return x, y.astype(np.int64)


class FillerCurriculum:
    """Filler lengths for training, paced by the network's own progress.

    ``draw(rng)`` gives the filler length of the next batch, uniform in ``0 .. maximum``.
    ``update(batch_accuracy)`` keeps a running mean of the training accuracy (decay 0.9, so
    about the last ten batches); when it passes ``threshold`` the current maximum counts as
    mastered, and the maximum grows by ``step`` words (up to ``top``) and the mean starts again
    from 0. The same rule for every network makes "the longest filler mastered in a fixed number
    of steps" a fair comparison.
    """

    def __init__(self, step: int = 10, top: int = 100, threshold: float = 0.9):
        self.step, self.top, self.threshold = step, top, threshold
        self.maximum = 0
        self.mastered: int | None = None     # the largest maximum mastered so far
        self.running = 0.0
        self.history: list[int] = []          # the maximum at every training step

    def draw(self, rng: np.random.Generator) -> int:
        self.history.append(self.maximum)
        return int(rng.integers(0, self.maximum + 1))

    def update(self, batch_accuracy: float) -> None:
        self.running = 0.9 * self.running + 0.1 * batch_accuracy
        if self.running > self.threshold:
            self.mastered = self.maximum
            self.maximum = min(self.maximum + self.step, self.top)
            self.running = 0.0
