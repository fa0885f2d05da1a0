"""The tagging grammar and the LSTM tagger: data properties, model shapes, metrics, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_course import seed_everything
from lstm_course.data import tagging as G
from lstm_course.tasks import tagging as T


def test_sentences_are_seeded_and_well_formed():
    a = G.generate_sentences(200, np.random.default_rng(1))
    b = G.generate_sentences(200, np.random.default_rng(1))
    assert a == b
    for s in a:
        assert len(s.words) == len(s.tags) == len(s.right_context) >= 2
        assert set(s.tags) <= set(G.TAGS)


def test_every_ambiguous_word_occurs_both_as_noun_and_as_verb():
    seen = {(w, t) for s in G.tagging_splits(0)["train"] for w, t in zip(s.words, s.tags, strict=True)}
    for word in G.AMBIGUOUS_WORDS:
        assert (word, "NN") in seen and (word, "V") in seen, word


def test_right_context_words_have_the_same_left_context_in_both_readings():
    sents = G.generate_sentences(2000, np.random.default_rng(2), right_context=1.0)
    by_left: dict[tuple, set] = {}
    for s in sents:
        k = s.right_context.index(True)
        by_left.setdefault(s.words[:k + 1], set()).add(s.tags[k])
    both = [left for left, tags in by_left.items() if tags == {"NN", "V"}]
    assert len(both) > 0.5 * len(by_left)
    # the next word decides: a copula after the noun reading, never after the verb reading
    for s in sents:
        k = s.right_context.index(True)
        assert (s.words[k + 1] in G.COPULAS) == (s.tags[k] == "NN")


def test_right_context_probability_controls_the_flagged_sentences():
    none = G.generate_sentences(300, np.random.default_rng(3), right_context=0.0)
    assert not any(any(s.right_context) for s in none)
    every = G.generate_sentences(300, np.random.default_rng(3), right_context=1.0)
    assert all(sum(s.right_context) == 1 for s in every)


def test_unseen_words_appear_only_in_the_test_split():
    splits = G.tagging_splits(0)
    unseen = {w for ws in G.UNSEEN_WORDS.values() for w in ws}
    train_words = {w for s in splits["train"] + splits["val"] for w in s.words}
    test_words = {w for s in splits["test"] for w in s.words}
    assert not unseen & train_words and unseen & test_words


def test_tagger_outputs_log_probabilities_for_batches_and_single_sentences():
    torch.manual_seed(0)
    model = T.LSTMTagger(10, 4, 5, 6)
    out = model(torch.randint(0, 10, (7, 3)))
    assert out.shape == (7, 3, 4)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(7, 3))
    single = model(torch.randint(0, 10, (5,)))
    assert single.shape == (5, 4)


def test_padding_does_not_change_the_tags_of_real_words_even_bidirectionally():
    torch.manual_seed(0)
    sents = G.generate_sentences(6, np.random.default_rng(4))
    words, tags = T.build_vocabs(sents)
    for bidirectional in (False, True):
        model = T.LSTMTagger(len(words), len(tags), 5, 6, bidirectional=bidirectional)
        ids, _, lengths = T.encode_batch(sents, words, tags)
        batched = model(ids, lengths)
        for j, s in enumerate(sents):
            alone = model(words.encode(s.words))
            torch.testing.assert_close(batched[: len(s.words), j], alone)


def test_encode_batch_pads_words_with_pad_and_tags_with_ignore():
    sents = [G.TaggedSentence(("a", "b"), ("DET", "NN"), (False, False)),
             G.TaggedSentence(("b",), ("NN",), (False,))]
    words, tags = T.build_vocabs(sents)
    w, t, lengths = T.encode_batch(sents, words, tags)
    assert w.shape == t.shape == (2, 2) and lengths.tolist() == [2, 1]
    assert w[1, 1] == words.pad_index and t[1, 1] == T.IGNORE


def test_word_dropout_replaces_only_real_words_and_about_p_of_them():
    ids = torch.full((100, 50), 5)
    ids[80:] = 0
    out = T.word_dropout(ids, 0.2, unk_index=1, pad_index=0, generator=torch.Generator().manual_seed(0))
    assert torch.all(out[80:] == 0)
    assert 0.15 < (out[:80] == 1).float().mean() < 0.25
    assert torch.all(ids[:80] == 5)


def test_tag_accuracy_on_subsets():
    s = G.TaggedSentence(("the", "kitchen", "can", "wait"), ("DET", "NN", "V", "V"),
                         (False, False, True, False))
    pred = [["DET", "NN", "NN", "V"]]
    assert T.tag_accuracy(pred, [s]) == 0.75
    assert T.tag_accuracy(pred, [s], where="ambiguous") == 0.0
    assert T.tag_accuracy(pred, [s], where="right_context") == 0.0
    assert np.isnan(T.tag_accuracy(pred, [s], where="left_context"))
    known = T.build_vocabs([G.TaggedSentence(("the", "can"), ("DET", "NN"), (False, False))])[0]
    assert T.tag_accuracy(pred, [s], where="unknown", known=known) == 1.0
    with pytest.raises(ValueError):
        T.tag_accuracy(pred, [s], where="unknown")


def test_most_frequent_tag_baseline_and_confusion_matrix():
    train = [G.TaggedSentence(("a", "book"), ("DET", "NN"), (False, False)),
             G.TaggedSentence(("book", "it"), ("V", "PRON"), (False, False)),
             G.TaggedSentence(("the", "book"), ("DET", "NN"), (False, False))]
    table, default = T.most_frequent_tag(train)
    assert table["book"] == "NN" and default in ("DET", "NN")
    pred = T.baseline_predict(table, default, train)
    m = T.confusion_matrix(pred, train, ["DET", "NN", "V", "PRON"])
    assert m.sum() == 6 and m[2, 1] == 1 and np.trace(m) == 5


def test_the_tagger_learns_context_and_beats_the_baseline_on_ambiguous_words():
    seed_everything(0)
    data = G.tagging_splits(0, n_train=800, n_val=10, n_test=300, right_context=0.0)
    words, tags = T.build_vocabs(data["train"])
    model = T.LSTMTagger(len(words), len(tags), 16, 32)
    losses = T.train_tagger(model, data["train"], words, tags, steps=150, show_progress=False)
    assert losses[-1] < 0.3 * losses[0]
    pred = T.predict(model, data["test"], words, tags)
    table, default = T.most_frequent_tag(data["train"])
    base = T.baseline_predict(table, default, data["test"])
    assert T.tag_accuracy(pred, data["test"], where="ambiguous") > \
        T.tag_accuracy(base, data["test"], where="ambiguous") + 0.2


def test_predict_unpadded_keeps_the_order_and_matches_a_left_to_right_tagger():
    splits = G.tagging_splits(seed=0, n_train=60, n_val=0, n_test=40)
    words, tags = T.build_vocabs(splits["train"])
    seed_everything(0)
    model = T.LSTMTagger(len(words), len(tags), 8, 8)
    sentences = splits["test"]
    alone = T.predict_unpadded(model, sentences, words, tags)
    assert [len(p) for p in alone] == [len(s.words) for s in sentences]
    assert alone == T.predict(model, sentences, words, tags)   # padding cannot reach a left-to-right LSTM
