"""Masking by hand and running one by one give the final states that packing gives."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from lstm_course.modules.lstm import LSTMCell
from lstm_course.modules.padded import final_states_one_by_one, length_mask, run_masked


def _batch(lengths, n_in=3, seed=0):
    torch.manual_seed(seed)
    return pad_sequence([torch.randn(n, n_in, dtype=torch.float64) for n in lengths])


def test_length_mask_marks_the_real_steps():
    mask = length_mask([3, 1], T=4)
    assert mask.shape == (4, 2)
    assert mask[:, 0].tolist() == [True, True, True, False]
    assert mask[:, 1].tolist() == [True, False, False, False]


def test_one_by_one_equals_packing_for_a_bidirectional_two_layer_lstm():
    lengths = [2, 5, 3]
    padded = _batch(lengths)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    packed = pack_padded_sequence(padded, torch.tensor(lengths), enforce_sorted=False)
    _, (h_n, c_n) = lstm(packed)
    truth = final_states_one_by_one(lstm, padded, lengths)
    torch.testing.assert_close(h_n, truth[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(c_n, truth[1], rtol=0, atol=1e-12)


def test_masking_by_hand_gives_the_final_states_and_zero_outputs_after_the_end():
    lengths = [4, 1, 6]
    padded = _batch(lengths, seed=1)
    lstm = nn.LSTM(3, 5, dtype=torch.float64)
    cell = LSTMCell(3, 5, dtype=torch.float64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in lstm.state_dict().items()})
    outputs, (h, c) = run_masked(cell, padded, lengths)
    truth = final_states_one_by_one(lstm, padded, lengths)
    torch.testing.assert_close(h, truth[0][0], rtol=0, atol=1e-12)
    torch.testing.assert_close(c, truth[1][0], rtol=0, atol=1e-12)
    assert outputs[1:, 1].abs().max() == 0 and outputs[4:, 0].abs().max() == 0
