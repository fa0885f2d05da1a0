"""The hand-set "i stay in india ... i speak ___" cell: the story's words, weights, memory and forgetting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_course.data import india, languages
from lstm_course.scratch import lstm as numpy_lstm


def test_india_reads_the_words_of_the_languages_task():
    """One story vocabulary: the hand-set cell's countries, languages and inputs are languages.py's."""
    assert india.VOCAB is languages.VOCAB and india.INDEX is languages.INDEX
    assert india.COUNTRIES == tuple(languages.COUNTRIES)[:4] == ("india", "france", "germany", "spain")
    assert india.LANGUAGES == tuple(languages.COUNTRIES[c] for c in india.COUNTRIES)
    assert set(india.LANGUAGES) <= set(languages.LANGUAGES)
    assert not hasattr(india, "FILLER")


def test_story_is_the_languages_sentence_the_country_then_filler_then_i_speak():
    tokens = india.story("india", 12, np.random.default_rng(0))
    assert tokens == languages.language_sentence("india", 12, np.random.default_rng(0))
    assert tokens[:5] == [*languages.OPENING, "india", "."]
    assert tokens[-2:] == list(languages.QUESTION)
    assert len(tokens) == 12 + 7
    assert not set(tokens[5:-2]) & (set(languages.COUNTRIES) | set(languages.LANGUAGES) | {"speak"})


def test_story_with_a_move_names_the_second_country_after_the_filler():
    tokens = india.story("india", 6, np.random.default_rng(1), moved_to="spain")
    assert [w for w in tokens if w in languages.COUNTRIES] == ["india", "spain"]
    t = tokens.index("spain")
    assert tokens[t - len(languages.MOVE):t] == list(languages.MOVE) and tokens[t + 1] == "."
    assert t == 5 + 6 + len(languages.MOVE) and len(tokens) == 2 * 6 + 7 + len(languages.MOVE) + 2


@pytest.mark.parametrize("country", ["japan", "India", "atlantis"])
def test_story_refuses_a_country_the_cell_has_no_unit_for(country):
    with pytest.raises(ValueError, match="knows the countries"):
        india.story(country, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="knows the countries"):
        india.story("india", 3, np.random.default_rng(0), moved_to=country)


def test_the_filler_stream_never_opens_the_output_gate_or_names_a_country():
    words = {languages.VOCAB[i] for i in languages.filler_stream()}
    assert "speak" not in words and not words & set(languages.COUNTRIES)


def test_one_hot_is_one_word_per_step():
    tokens = india.story("france", 5, np.random.default_rng(2))
    xs = india.one_hot(tokens)
    assert xs.shape == (len(tokens), 1, len(languages.VOCAB))
    np.testing.assert_array_equal(xs.sum(axis=-1), 1.0)
    assert [india.VOCAB[k] for k in xs[:, 0].argmax(axis=-1)] == tokens


@pytest.mark.parametrize("word", languages.VOCAB)
def test_every_word_of_the_vocabulary_sets_the_gates_as_documented(word):
    """Country of the cell: write and erase; "speak": show; any other word (other countries too): keep."""
    out = india.run([word], *india.hand_set_weights())
    i, f, g, o = (out[k][0] for k in "ifgo")
    if word in india.COUNTRIES:
        k = india.COUNTRIES.index(word)
        assert i.min() > 0.99 and f.max() < 1e-3 and g[k] > 0.99
        assert np.abs(np.delete(g, k)).max() < 1e-3 and o.max() < 1e-3
    else:
        assert i.max() < 1e-3 and f.min() > 0.99 and np.abs(g).max() < 1e-3
        assert (o.min() > 0.99) if word == "speak" else (o.max() < 1e-3)


@pytest.mark.parametrize("country,language", list(zip(india.COUNTRIES, india.LANGUAGES, strict=True)))
def test_hand_set_cell_answers_the_language_after_long_filler(country, language):
    tokens = india.story(country, 500, np.random.default_rng(3))
    out = india.run(tokens, *india.hand_set_weights())
    assert india.LANGUAGES[int(out["p"].argmax())] == language == languages.COUNTRIES[country]
    assert out["p"].max() > 0.99
    k = india.COUNTRIES.index(country)
    assert out["c"][-1, k] > 0.95
    assert (out["o"][:-1] < 1e-3).all() and out["o"][-1].min() > 0.99  # hidden until "speak"


def test_a_country_without_a_unit_is_filler_to_the_cell():
    others = [c for c in languages.COUNTRIES if c not in india.COUNTRIES]
    assert others == ["italy", "japan", "china", "brazil"]
    tokens = india.story("germany", 8, np.random.default_rng(10))
    tokens[7:7] = ["i", "saw", *others]                   # the other four countries, mid-story
    assert not set(tokens[5:]) & set(india.COUNTRIES)
    out = india.run(tokens, *india.hand_set_weights())
    assert india.LANGUAGES[int(out["p"].argmax())] == "german" and out["p"].max() > 0.99


def test_the_forget_gate_erases_the_old_country_when_a_new_one_arrives():
    tokens = india.story("india", 10, np.random.default_rng(4), moved_to="france")
    out = india.run(tokens, *india.hand_set_weights())
    assert india.LANGUAGES[int(out["p"].argmax())] == "french"
    t = tokens.index("france")
    assert out["f"][t].max() < 1e-3 and out["i"][t].min() > 0.99
    assert out["c"][-1, 0] < 1e-3


def test_forcing_the_forget_gate_open_keeps_both_countries_and_shut_keeps_none():
    tokens = india.story("india", 10, np.random.default_rng(5), moved_to="france")
    keep = india.run(tokens, *india.hand_set_weights(forget_bias=30.0))["p"]
    np.testing.assert_allclose(keep[:2], 0.5, atol=1e-3)
    erase = india.run(tokens, *india.hand_set_weights(forget_bias=-30.0))["p"]
    np.testing.assert_allclose(erase, 1 / len(india.COUNTRIES), atol=1e-3)


def test_a_leaky_forget_gate_fades_the_memory_as_f_to_the_power_n():
    tokens = india.story("india", 30, np.random.default_rng(6))
    bias = 3.0
    out = india.run(tokens, *india.hand_set_weights(forget_bias=bias))
    n = len(tokens) - 1 - tokens.index("india")
    f = numpy_lstm.sigmoid(bias)
    assert out["c"][-1, 0] == pytest.approx(f ** n * out["c"][tokens.index("india"), 0], rel=1e-6)


def test_language_probabilities_are_a_softmax():
    p = india.language_probabilities(np.array([[0.5, -0.2, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[1], 0.25)
    assert p[0].argmax() == 0


def test_hand_set_weights_follow_pytorch_gate_order():
    """Loaded into nn.LSTM (i, f, g, o; weight_hh | weight_ih), the weights give the same states."""
    W, b = india.hand_set_weights()
    H, V = len(india.COUNTRIES), len(india.VOCAB)
    assert W.shape == (4 * H, H + V) and b.shape == (4 * H,)
    lstm = torch.nn.LSTM(V, H, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_hh_l0.copy_(torch.from_numpy(W[:, :H]))
        lstm.weight_ih_l0.copy_(torch.from_numpy(W[:, H:]))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
        tokens = india.story("germany", 10, np.random.default_rng(7))
        hs, _ = lstm(torch.from_numpy(india.one_hot(tokens)))
    out = india.run(tokens, W, b)
    np.testing.assert_allclose(out["h"], hs[:, 0].numpy(), rtol=0, atol=1e-12)


def test_a_sigmoid_read_out_answers_yes_only_at_speak_after_india():
    """Chapter 4's y_hat = sigmoid(w_y . h_t + b_y) for 'is the answer hindi?'."""
    W, b = india.hand_set_weights()
    w_y, b_y = np.array([12.0, 0.0, 0.0, 0.0]), -6.0
    stay = india.run(india.story("india", 12, np.random.default_rng(8)), W, b)["h"]
    moved = india.run(india.story("india", 12, np.random.default_rng(9), moved_to="france"), W, b)["h"]
    y_stay, y_moved = numpy_lstm.sigmoid(stay @ w_y + b_y), numpy_lstm.sigmoid(moved @ w_y + b_y)
    assert y_stay[-1] > 0.9 and y_moved[-1] < 0.01
    assert y_stay[:-1].max() < 0.01 and y_moved[:-1].max() < 0.01
