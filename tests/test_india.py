"""The hand-set "I stay in India ... I speak ___" cell: stories, weights, memory and forgetting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_course.data import india
from lstm_course.scratch import lstm as numpy_lstm


def test_story_names_the_country_then_filler_then_ends_with_i_speak():
    tokens = india.story("India", 3, np.random.default_rng(0))
    assert tokens[:5] == ["i", "stay", "in", "India", "."]
    assert tokens[-2:] == ["i", "speak"]
    middle = tokens[5:-2]
    assert middle.count(".") == 3
    assert not set(middle) & set(india.COUNTRIES)


def test_story_with_a_move_names_the_second_country_after_the_filler():
    tokens = india.story("India", 2, np.random.default_rng(1), moved_to="Japan")
    assert [w for w in tokens if w in india.COUNTRIES] == ["India", "Japan"]
    assert tokens.index("Japan") > tokens.index("India") + 2


def test_one_hot_is_one_word_per_step():
    tokens = india.story("France", 1, np.random.default_rng(2))
    xs = india.one_hot(tokens)
    assert xs.shape == (len(tokens), 1, len(india.VOCAB))
    np.testing.assert_array_equal(xs.sum(axis=-1), 1.0)
    assert [india.VOCAB[k] for k in xs[:, 0].argmax(axis=-1)] == tokens


@pytest.mark.parametrize("country,language", list(zip(india.COUNTRIES, india.LANGUAGES, strict=True)))
def test_hand_set_cell_remembers_the_country_across_long_filler(country, language):
    tokens = india.story(country, 100, np.random.default_rng(3))
    out = india.run(tokens, *india.hand_set_weights())
    assert india.LANGUAGES[int(out["p"].argmax())] == language
    assert out["p"].max() > 0.99
    k = india.COUNTRIES.index(country)
    assert out["c"][-1, k] > 0.95
    assert (out["o"][:-1] < 1e-3).all() and out["o"][-1].min() > 0.99  # hidden until "speak"


def test_the_forget_gate_erases_the_old_country_when_a_new_one_arrives():
    tokens = india.story("India", 2, np.random.default_rng(4), moved_to="France")
    out = india.run(tokens, *india.hand_set_weights())
    assert india.LANGUAGES[int(out["p"].argmax())] == "French"
    t = tokens.index("France")
    assert out["f"][t].max() < 1e-3 and out["i"][t].min() > 0.99
    assert out["c"][-1, 0] < 1e-3


def test_forcing_the_forget_gate_open_keeps_both_countries_and_shut_keeps_none():
    tokens = india.story("India", 2, np.random.default_rng(5), moved_to="France")
    keep = india.run(tokens, *india.hand_set_weights(forget_bias=30.0))["p"]
    np.testing.assert_allclose(keep[:2], 0.5, atol=1e-3)
    erase = india.run(tokens, *india.hand_set_weights(forget_bias=-30.0))["p"]
    np.testing.assert_allclose(erase, 0.25, atol=1e-3)


def test_a_leaky_forget_gate_fades_the_memory_as_f_to_the_power_n():
    tokens = india.story("India", 5, np.random.default_rng(6))
    bias = 3.0
    out = india.run(tokens, *india.hand_set_weights(forget_bias=bias))
    n = len(tokens) - 1 - tokens.index("India")
    f = numpy_lstm.sigmoid(bias)
    assert out["c"][-1, 0] == pytest.approx(f ** n * out["c"][tokens.index("India"), 0], rel=1e-6)


def test_language_probabilities_are_a_softmax():
    p = india.language_probabilities(np.array([[0.5, -0.2, 0.0, 0.1], [0.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[1], 0.25)
    assert p[0].argmax() == 0


def test_hand_set_weights_follow_pytorch_gate_order():
    """Loaded into nn.LSTM (i, f, g, o; weight_hh | weight_ih), the weights give the same states."""
    W, b = india.hand_set_weights()
    H, V = len(india.COUNTRIES), len(india.VOCAB)
    lstm = torch.nn.LSTM(V, H, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_hh_l0.copy_(torch.from_numpy(W[:, :H]))
        lstm.weight_ih_l0.copy_(torch.from_numpy(W[:, H:]))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
        tokens = india.story("Germany", 2, np.random.default_rng(7))
        hs, _ = lstm(torch.from_numpy(india.one_hot(tokens)))
    out = india.run(tokens, W, b)
    np.testing.assert_allclose(out["h"], hs[:, 0].numpy(), rtol=0, atol=1e-12)


def test_a_sigmoid_read_out_answers_yes_only_at_speak_after_india():
    """Chapter 4's y_hat = sigmoid(w_y . h_t + b_y) for 'is the answer Hindi?'."""
    W, b = india.hand_set_weights()
    w_y, b_y = np.array([12.0, 0.0, 0.0, 0.0]), -6.0
    stay = india.run(india.story("India", 3, np.random.default_rng(8)), W, b)["h"]
    moved = india.run(india.story("India", 3, np.random.default_rng(9), moved_to="France"), W, b)["h"]
    y_stay, y_moved = numpy_lstm.sigmoid(stay @ w_y + b_y), numpy_lstm.sigmoid(moved @ w_y + b_y)
    assert y_stay[-1] > 0.9 and y_moved[-1] < 0.01
    assert y_stay[:-1].max() < 0.01 and y_moved[:-1].max() < 0.01
