"""Data generators and the training loop: shapes, seeding, and that training learns."""

from __future__ import annotations

import numpy as np
import torch

from lstm_course import seed_everything
from lstm_course.data.recall import recall_batch
from lstm_course.modules.models import SequenceClassifier, set_forget_bias
from lstm_course.train import accuracy, fit


def test_recall_batch_layout():
    x, y = recall_batch(5, 3, np.random.default_rng(0))
    assert x.shape == (5, 5, 9) and y.shape == (5,)
    assert np.all(x.sum(axis=2) == 1.0)
    np.testing.assert_array_equal(x[0].argmax(axis=1), y)
    assert np.all(x[1:4].argmax(axis=2) >= 4) and np.all(x[-1, :, -1] == 1)


def test_recall_batch_is_reproducible_from_the_seed():
    a = recall_batch(8, 4, np.random.default_rng(3))
    b = recall_batch(8, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_fit_learns_the_short_recall_task():
    rng = seed_everything(0)
    model = SequenceClassifier("rnn", 9, 16, 4)

    def loss_fn():
        x, y = recall_batch(32, 2, rng)
        return torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))

    losses = fit(loss_fn, model.parameters(), steps=150, show_progress=False)
    assert losses[-1] < 0.5 * losses[0]
    x, y = recall_batch(500, 2, np.random.default_rng(9))
    with torch.no_grad():
        assert accuracy(model(torch.from_numpy(x)), torch.from_numpy(y)) > 0.9


def test_set_forget_bias_sets_the_sum_of_both_biases_in_the_f_block():
    lstm = torch.nn.LSTM(3, 4)
    set_forget_bias(lstm, 1.0)
    total = lstm.bias_ih_l0 + lstm.bias_hh_l0
    assert torch.all(total[4:8] == 1.0)


def test_scale_input_weights_scales_only_the_input_weights_of_every_layer():
    from lstm_course.modules.models import scale_input_weights

    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, num_layers=2)
    before = {k: v.clone() for k, v in gru.state_dict().items()}
    scale_input_weights(gru, 8.0)
    for name, value in gru.state_dict().items():
        factor = 8.0 if name.startswith("weight_ih") else 1.0
        assert torch.equal(value, before[name] * factor), name
