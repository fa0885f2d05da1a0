"""A small English grammar for part-of-speech tagging, whose hard words are ambiguous.

Words such as "book", "read", "can", "saw", "run", "watch", "fish" and "play" are a noun
(NN) in one sentence and a verb (V) in another, so a tagger that looks at the word alone
cannot be right on both: the tag depends on context. Tags (a coarse set; modal "can" and
"will" count as V, possessives such as "my" as DET)::

    DET  determiner       the, a, that, my ...
    NN   noun             cat, cheese, book (the book)
    V    verb             ate, saw (she saw), can (she can run), is
    PRON pronoun          she, they, them ...
    ADJ  adjective        big, old ...
    PREP preposition      in, near ...
    ADV  adverb           today, again ...

Most ambiguous words are decided by what comes BEFORE them ("the book" vs "will book"), so
a left-to-right LSTM can tag them. A fraction of sentences (``right_context``) contains a word
decided only by what FOLLOWS it, with the same words before it in both readings:

    the kitchen can is red      -> can/NN  (a compound noun "kitchen can", then the verb)
    the kitchen can wait        -> can/V   (the modal verb)
    the garden saw is new       -> saw/NN
    the garden saw the rain     -> saw/V

Both readings are equally likely, so a left-to-right tagger is right on about half of these
words at best, while a bidirectional one (which also reads the sentence backwards) sees the next
word and can tag them all. Such words are flagged in ``TaggedSentence.right_context``.

Generator API (every function is deterministic given its ``numpy.random.Generator``):

* ``generate_sentences(n, rng, *, right_context=0.1, unseen=0.0) -> list[TaggedSentence]``:
  ``n`` sentences; ``right_context`` is the probability that a sentence is one of the
  right-context constructions above; ``unseen`` is the probability that a noun, adjective or
  transitive verb slot is filled from the ``UNSEEN_WORDS`` lists, which never occur otherwise
  (use it for a test set with out-of-vocabulary words).
* ``tagging_splits(seed=0, n_train=2000, n_val=300, n_test=1000, *, right_context=0.1,
  unseen_test=0.05) -> dict`` with keys "train", "val", "test": a fixed, seeded split; only
  the test set contains unseen words.
* ``TaggedSentence(words, tags, right_context)``: three tuples of equal length; the flags mark
  the words whose tag depends on the following word.
* ``AMBIGUOUS_WORDS``: the words that are NN in some sentences and V in others.
* ``SEED_EXAMPLE``: four training sentences in the style of the PyTorch LSTM tutorial's tagger
  (the tutorial has two; the course's source notes add two), with its tag set (DET, NN, V;
  there "she" is tagged NN).

To measure accuracy on a subset of words, see ``lstm_course.tasks.tagging.tag_accuracy`` with
``where="ambiguous"``, ``"left_context"`` (ambiguous words the preceding words decide),
``"right_context"`` or ``"unknown"``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

TAGS = ("DET", "NN", "V", "PRON", "ADJ", "PREP", "ADV")

DETERMINERS = ("the", "a", "that", "this", "every", "my", "your")
NOUNS = ("cat", "dog", "cheese", "elephant", "phone", "art", "teacher", "farmer", "girl", "boy",
         "letter", "song", "car", "river", "city", "house", "friend", "window", "story", "tree",
         "bird", "apple", "door", "kitchen", "garden", "chicken", "table", "school")
#: Nouns that also serve as the first part of a compound ("the kitchen can").
MODIFIERS = ("kitchen", "garden", "chicken", "table", "school", "farmer", "teacher", "story")
AMBIGUOUS_WORDS = ("book", "read", "can", "saw", "run", "watch", "fish", "play")
PAST_TRANSITIVE = ("ate", "loved", "answered", "found", "took", "opened", "wanted", "bought",
                   "wrote", "cleaned", "liked", "saw", "read")
BASE_TRANSITIVE = ("eat", "love", "answer", "find", "take", "open", "want", "buy", "write",
                   "clean", "read", "book", "watch", "saw", "play", "fish")
BASE_INTRANSITIVE = ("sleep", "wait", "laugh", "swim", "run", "fish", "play", "read", "leave")
PAST_INTRANSITIVE = ("slept", "laughed", "smiled", "left", "waited", "arrived")
PRESENT_PLURAL = ("run", "play", "watch", "fish", "read", "book", "eat", "love", "like", "want")
PLURAL_SUBJECTS = ("they", "we", "i", "you")
SUBJECT_PRONOUNS = ("she", "he", "they", "we", "i", "you")
OBJECT_PRONOUNS = ("him", "them", "us", "me", "it", "you")
MODALS = ("can", "will")
COPULAS = ("is", "was")
ADJECTIVES = ("big", "old", "red", "good", "long", "small", "new", "quiet")
PREPOSITIONS = ("in", "on", "near", "with", "under", "after")
ADVERBS = ("today", "again", "quickly", "slowly", "often", "yesterday")
#: Words that only appear when ``unseen > 0`` (out-of-vocabulary words for a test set).
UNSEEN_WORDS = {
    "NN": ("giraffe", "tractor", "violin", "lantern", "pebble", "blanket"),
    "V": ("visited", "carried", "pushed", "followed", "painted"),
    "ADJ": ("purple", "tiny", "ancient", "noisy"),
}

SEED_EXAMPLE = (
    ("the cat ate the cheese".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("she read that book".split(), ["NN", "V", "DET", "NN"]),
    ("the dog loves art".split(), ["DET", "NN", "V", "NN"]),
    ("the elephant answers the phone".split(), ["DET", "NN", "V", "DET", "NN"]),
)


class TaggedSentence(NamedTuple):
    """One sentence: words, their tags, and which words need the right context to be tagged."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    right_context: tuple[bool, ...]


class _Builder:
    """Collects (word, tag, right-context flag) triples while a sentence is generated."""

    def __init__(self, rng: np.random.Generator, unseen: float):
        self.rng, self.unseen = rng, unseen
        self.words: list[str] = []
        self.tags: list[str] = []
        self.flags: list[bool] = []

    def pick(self, options) -> str:
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def add(self, word: str, tag: str, flag: bool = False) -> None:
        self.words.append(word)
        self.tags.append(tag)
        self.flags.append(flag)

    def word(self, options, tag: str) -> None:
        """A word from ``options``, or (with probability ``unseen``) an unseen word of that tag."""
        if tag in UNSEEN_WORDS and self.chance(self.unseen):
            options = UNSEEN_WORDS[tag]
        self.add(self.pick(options), tag)

    def noun(self) -> None:
        """A noun slot: one time in three an ambiguous word used as a noun."""
        if self.chance(1 / 3):
            self.add(self.pick(AMBIGUOUS_WORDS), "NN")
        else:
            self.word(NOUNS, "NN")

    def noun_phrase(self) -> None:
        self.add(self.pick(DETERMINERS), "DET")
        if self.chance(0.3):
            self.word(ADJECTIVES, "ADJ")
        self.noun()

    def subject(self) -> str:
        if self.chance(0.4):
            pronoun = self.pick(SUBJECT_PRONOUNS)
            self.add(pronoun, "PRON")
            return pronoun
        self.noun_phrase()
        return ""

    def object(self) -> None:
        if self.chance(0.25):
            self.add(self.pick(OBJECT_PRONOUNS), "PRON")
        else:
            self.noun_phrase()

    def predicate(self, subject: str) -> None:
        kind = self.rng.random()
        if subject in PLURAL_SUBJECTS and kind < 0.25:
            self.add(self.pick(PRESENT_PLURAL), "V")
            if self.chance(0.6):
                self.object()
        elif kind < 0.55:
            self.word(PAST_TRANSITIVE, "V")
            self.object()
        elif kind < 0.85:
            self.add(self.pick(MODALS), "V")
            if self.chance(0.6):
                self.add(self.pick(BASE_TRANSITIVE), "V")
                self.object()
            else:
                self.add(self.pick(BASE_INTRANSITIVE), "V")
        else:
            self.add(self.pick(PAST_INTRANSITIVE), "V")

    def ending(self) -> None:
        if self.chance(0.3):
            self.add(self.pick(PREPOSITIONS), "PREP")
            self.noun_phrase()
        if self.chance(0.2):
            self.add(self.pick(ADVERBS), "ADV")

    def plain(self) -> None:
        if self.chance(0.05):  # an imperative: "book a table today"
            self.add(self.pick(BASE_TRANSITIVE), "V")
            self.object()
        else:
            self.predicate(self.subject())
        self.ending()

    def right_context_sentence(self) -> None:
        """DET MODIFIER (can|saw) ...: a noun if a copula follows, a verb otherwise."""
        self.add(self.pick(DETERMINERS), "DET")
        self.add(self.pick(MODIFIERS), "NN")
        word = self.pick(("can", "saw"))
        if self.chance(0.5):
            self.add(word, "NN", True)
            self.add(self.pick(COPULAS), "V")
            if self.chance(0.7):
                self.add(self.pick(ADJECTIVES), "ADJ")
            else:
                self.add(self.pick(PREPOSITIONS), "PREP")
                self.noun_phrase()
        else:
            self.add(word, "V", True)
            if word == "can":
                self.add(self.pick(BASE_INTRANSITIVE), "V")
            else:
                self.object()
        self.ending()


def generate_sentences(n: int, rng: np.random.Generator, *, right_context: float = 0.1,
                       unseen: float = 0.0) -> list[TaggedSentence]:
    """``n`` random tagged sentences (see the module docstring for the options)."""
    if not 0.0 <= right_context <= 1.0 or not 0.0 <= unseen <= 1.0:
        raise ValueError("right_context and unseen are probabilities in [0, 1]")
    sentences = []
    for _ in range(n):
        b = _Builder(rng, unseen)
        if b.chance(right_context):
            b.right_context_sentence()
        else:
            b.plain()
        sentences.append(TaggedSentence(tuple(b.words), tuple(b.tags), tuple(b.flags)))
    return sentences


def tagging_splits(seed: int = 0, n_train: int = 2000, n_val: int = 300, n_test: int = 1000, *,
                   right_context: float = 0.1,
                   unseen_test: float = 0.05) -> dict[str, list[TaggedSentence]]:
    """Seeded train / validation / test sets; only the test set has unseen words."""
    rng = np.random.default_rng(seed)
    return {
        "train": generate_sentences(n_train, rng, right_context=right_context),
        "val": generate_sentences(n_val, rng, right_context=right_context),
        "test": generate_sentences(n_test, rng, right_context=right_context, unseen=unseen_test),
    }
