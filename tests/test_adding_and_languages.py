"""The adding problem and the country/language task: layout, targets, seeding, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_course.data.adding import MEAN_PREDICTOR_MSE, adding_batch
from lstm_course.data.languages import (
    COUNTRIES,
    INDEX,
    LANGUAGES,
    MOVE,
    QUESTION,
    VOCAB,
    filler,
    language_batch,
    language_sentence,
)


def test_adding_batch_marks_one_step_in_each_half_and_targets_their_sum():
    x, y = adding_batch(500, 10, np.random.default_rng(0))
    assert x.shape == (10, 500, 2) and y.shape == (500,)
    assert x.dtype == np.float32 and y.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:5].sum(axis=0) == 1) and np.all(markers[5:].sum(axis=0) == 1)
    np.testing.assert_allclose((x[..., 0] * markers).sum(axis=0), y, rtol=1e-6)
    assert x[..., 0].min() >= 0.0 and x[..., 0].max() < 1.0


def test_adding_batch_uses_every_position_of_each_half():
    x, _ = adding_batch(2000, 8, np.random.default_rng(1))
    first = x[:4, :, 1].argmax(axis=0)
    second = 4 + x[4:, :, 1].argmax(axis=0)
    assert set(first.tolist()) == {0, 1, 2, 3} and set(second.tolist()) == {4, 5, 6, 7}


def test_the_mean_predictor_mse_is_one_sixth():
    _, y = adding_batch(200_000, 6, np.random.default_rng(2))
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(np.mean((y - 1.0) ** 2) - MEAN_PREDICTOR_MSE) < 0.003


def test_adding_batch_is_seeded_and_rejects_too_short_sequences():
    a, b = adding_batch(4, 12, np.random.default_rng(3)), adding_batch(4, 12, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError):
        adding_batch(4, 1, np.random.default_rng(0))


def test_a_language_sentence_names_the_country_then_filler_then_the_question():
    words = language_sentence("india", 12, np.random.default_rng(0))
    assert words[:5] == ["i", "stay", "in", "india", "."] and words[-2:] == ["i", "speak"]
    assert len(words) == 12 + 7
    assert not set(words[5:-2]) & (set(COUNTRIES) | set(LANGUAGES))


def test_a_move_names_a_second_country_in_words_of_the_vocabulary():
    words = language_sentence("india", 5, np.random.default_rng(3), moved_to="japan")
    assert all(w in INDEX for w in words) and all(w in INDEX for w in MOVE)
    assert words[10:10 + len(MOVE) + 2] == [*MOVE, "japan", "."]
    assert [w for w in words if w in COUNTRIES] == ["india", "japan"]
    assert len(words) == 2 * 5 + 7 + len(MOVE) + 2 and words[-2:] == list(QUESTION)
    # without a move, the words and the random draws are those of the plain sentence
    assert language_sentence("india", 5, np.random.default_rng(3)) == words[:10] + list(QUESTION)


def test_filler_has_exactly_the_requested_length_even_zero():
    rng = np.random.default_rng(1)
    assert filler(0, rng) == [] and len(filler(37, rng)) == 37


def test_language_batch_is_one_hot_and_its_target_matches_the_country():
    x, y = language_batch(64, 9, np.random.default_rng(2))
    assert x.shape == (16, 64, len(VOCAB)) and y.shape == (64,)
    assert np.all(x.sum(axis=2) == 1.0)
    countries = list(COUNTRIES)
    for b in range(64):
        assert VOCAB[int(x[3, b].argmax())] == countries[y[b]]
        assert [VOCAB[i] for i in x[-2:, b].argmax(axis=1)] == ["i", "speak"]
    assert set(y.tolist()) == set(range(len(COUNTRIES)))


def test_vocab_has_each_word_once_and_index_inverts_it():
    assert len(set(VOCAB)) == len(VOCAB)
    assert all(VOCAB[INDEX[w]] == w for w in VOCAB)


def test_filler_curriculum_draws_up_to_its_maximum_and_grows_only_when_mastered():
    from lstm_course.data.languages import FillerCurriculum

    cur = FillerCurriculum(step=10, top=30, threshold=0.9)
    rng = np.random.default_rng(0)
    assert {cur.draw(rng) for _ in range(20)} == {0} and cur.mastered is None
    for _ in range(50):
        cur.update(0.5)                      # never good enough: the maximum stays
    assert cur.maximum == 0 and cur.mastered is None
    steps = 0
    while cur.maximum == 0:
        cur.update(1.0)
        steps += 1
    assert cur.mastered == 0 and cur.maximum == 10 and 15 < steps < 30   # about the last ten batches
    assert max(cur.draw(rng) for _ in range(200)) == 10
    for _ in range(200):
        cur.update(1.0)
    assert cur.maximum == cur.mastered == 30                 # capped at top
    assert len(cur.history) == 20 + 200 and cur.history[-1] == 10
