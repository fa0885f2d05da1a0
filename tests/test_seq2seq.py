"""The digit-reversal task and the encoder-decoder with its training craft (Chapter 12)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from lstm_course.data.digits import BOS, EOS, VOCAB_SIZE, fixed_set, reverse_batch, to_text
from lstm_course.tasks import seq2seq as S


def _model(seed=0, H=8, p=0.0):
    torch.manual_seed(seed)
    return S.Seq2Seq(hidden_size=H, embedding_dim=4, recurrent_dropout=p)


def _batches(n, seed=0, batch=8, lengths=(1, 5)):
    rng = np.random.default_rng(seed)
    return [reverse_batch(batch, int(rng.integers(*lengths)), rng) for _ in range(n)]


def test_reverse_batch_targets_are_the_sources_backwards_and_time_major():
    src, target = reverse_batch(3, 5, np.random.default_rng(0))
    assert src.shape == target.shape == (5, 3) and src.dtype == torch.long
    assert torch.equal(target, src.flip(0)) and int(src.max()) < 10
    assert to_text(src[:, 0]) == to_text(target[:, 0])[::-1]
    with pytest.raises(ValueError):
        reverse_batch(3, 0, np.random.default_rng(0))


def test_fixed_set_is_the_same_for_the_same_seed():
    assert torch.equal(fixed_set(4, 3, seed=1)[0], fixed_set(4, 3, seed=1)[0])
    assert not torch.equal(fixed_set(4, 3, seed=1)[0], fixed_set(4, 3, seed=2)[0])


def test_decoder_io_shifts_the_target_right_with_bos_and_appends_eos():
    target = torch.tensor([[3, 7], [1, 8], [4, 9]])
    dec_in, dec_out = S.decoder_io(target)
    assert dec_in[:, 0].tolist() == [BOS, 3, 1, 4] and dec_out[:, 0].tolist() == [3, 1, 4, EOS]
    assert torch.equal(dec_in[1:], dec_out[:-1])


def test_teacher_forced_logits_match_step_by_step_decoding_with_the_true_tokens():
    model = _model().eval()
    src, target = reverse_batch(4, 5, np.random.default_rng(1))
    dec_in, _ = S.decoder_io(target)
    with torch.no_grad():
        forced = model(src, dec_in)
        state = model.encode(src)
        stepped = []
        for token in dec_in:
            logits, state = model.decode_step(token, state)
            stepped.append(logits)
    assert forced.shape == (6, 4, VOCAB_SIZE)
    torch.testing.assert_close(forced, torch.stack(stepped), rtol=1e-5, atol=1e-6)


def test_greedy_decode_feeds_back_its_own_argmax():
    model = _model(1).eval()
    src, _ = reverse_batch(5, 4, np.random.default_rng(2))
    tokens = S.greedy_decode(model, src, 6)
    assert tokens.shape == (6, 5)
    dec_in = torch.cat([torch.full((1, 5), BOS), tokens[:-1]])
    with torch.no_grad():
        assert torch.equal(model(src, dec_in).argmax(-1), tokens)


def test_answer_lengths_count_tokens_before_the_first_eos():
    tokens = torch.tensor([[1, EOS, 2], [EOS, 3, 4], [EOS, EOS, 5]])
    assert S.answer_lengths(tokens).tolist() == [1, 0, 3]


def test_accuracy_by_length_gives_fractions_and_whole_answers_never_beat_tokens():
    model = _model(2, H=16)
    S.train(model, S.random_lengths([2, 3], 16, seed=0), 30, lr=0.05, show_progress=False)
    acc = S.accuracy_by_length(model, [2, 4], n=64, seed=0)
    assert set(acc) == {"teacher_forced_token", "free_running_token", "sequence", "answer_length"}
    assert all(0.0 <= v <= 1.0 for k in ("teacher_forced_token", "free_running_token", "sequence")
               for v in acc[k])
    assert all(acc["sequence"] <= acc["free_running_token"] + 1e-12)


def test_train_step_returns_the_norm_before_clipping_and_clips():
    model = _model(3)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)
    src, target = reverse_batch(8, 3, np.random.default_rng(3))
    loss, norm = S.train_step(model, optimiser, None, src, target, clip=1e-3)
    after = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters()))
    assert norm > 1e-3 and after == pytest.approx(1e-3, rel=1e-4) and loss > 0


def test_train_steps_the_schedule_once_per_batch():
    model = _model(4)
    history = S.train(model, S.random_lengths([2], 8, seed=0), 10, lr=0.1, show_progress=False)
    assert len(history["lr"]) == 10 and history["lr"][0] == pytest.approx(0.1 / 25)
    assert history["lr"].max() == pytest.approx(0.1, rel=1e-6)


def test_free_running_training_runs_and_learns_something():
    model = _model(5, H=16)
    h = S.train(model, S.random_lengths([2], 32, seed=0), 40, lr=0.05, teacher_forcing=False,
                show_progress=False)
    assert h["loss"][-5:].mean() < h["loss"][:5].mean()


def test_recurrent_dropout_uses_one_mask_per_sequence_and_is_off_in_evaluation():
    model = _model(6, p=0.5)
    src, target = reverse_batch(4, 3, np.random.default_rng(4))
    dec_in, _ = S.decoder_io(target)
    torch.manual_seed(0)
    a = model(src, dec_in)
    torch.manual_seed(0)
    b = model(src, dec_in)
    torch.manual_seed(1)
    c = model(src, dec_in)
    assert torch.equal(a, b) and not torch.equal(a, c)
    model.eval()
    with torch.no_grad():
        plain = copy.deepcopy(model)
        plain.recurrent_dropout = 0.0
        torch.testing.assert_close(model(src, dec_in), plain(src, dec_in))


def test_recurrent_dropout_with_p_near_zero_matches_the_fused_call():
    stepped, fused = _model(7, p=1e-12), _model(7)
    src, target = reverse_batch(3, 4, np.random.default_rng(5))
    dec_in, _ = S.decoder_io(target)
    torch.testing.assert_close(stepped(src, dec_in), fused(src, dec_in), rtol=1e-5, atol=1e-6)


def test_lr_range_test_leaves_the_model_alone_and_raises_the_rate_geometrically():
    model = _model(8)
    before = copy.deepcopy(model.state_dict())
    lrs, losses = S.lr_range_test(model, S.random_lengths([3], 8, seed=0), lr_min=1e-4, lr_max=1e-2,
                                  steps=5, show_progress=False)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    np.testing.assert_allclose(lrs, np.geomspace(1e-4, 1e-2, 5)[: len(lrs)], rtol=1e-6)
    assert len(losses) == len(lrs)


def test_steepest_descent_lr_finds_the_fastest_fall():
    lrs = np.geomspace(1e-4, 1, 41)
    losses = 2 - np.tanh(4 * (np.log10(lrs) + 2))          # falls fastest at lr = 1e-2
    assert S.steepest_descent_lr(lrs, losses, smooth=3) == pytest.approx(1e-2, rel=0.3)


def test_early_stopping_epoch_stops_after_patience_epochs_without_improvement():
    assert S.early_stopping_epoch([3, 2, 1, 1.5, 1.2, 1.1, 0.5], patience=3) == (6, 3)
    assert S.early_stopping_epoch([3, 2, 1], patience=2) == (3, 3)


def test_fit_epochs_keeps_the_best_validation_weights():
    model = _model(9)
    train_set, val_set = fixed_set(16, 3, seed=0), fixed_set(16, 3, seed=1)
    h = S.fit_epochs(model, train_set, val_set, epochs=4, batch_size=8, lr=0.05, show_progress=False)
    assert len(h["train"]) == len(h["val"]) == 4
    assert S.dataset_loss(model, val_set) == pytest.approx(min(h["val"]), rel=1e-6)
    h = S.fit_epochs(_model(9), train_set, val_set, epochs=50, batch_size=8, lr=0.0, patience=2,
                     show_progress=False)
    assert len(h["val"]) == 3 and h["best_epoch"] == 1


def test_checkpoint_resumes_to_exactly_the_same_losses(tmp_path):
    batches = _batches(8, seed=1)

    def setup(seed):
        m = _model(seed)
        opt = torch.optim.AdamW(m.parameters(), lr=0.05, weight_decay=0.01)
        return m, opt, S.one_cycle(opt, 0.05, total_steps=8)

    m, opt, sched = setup(0)
    S.train_epoch(m, opt, sched, batches[:4])
    S.save_checkpoint(tmp_path / "c.pt", m, opt, sched, step=4)
    expected, _ = S.train_epoch(m, opt, sched, batches[4:])
    m2, opt2, sched2 = setup(1)
    assert S.load_checkpoint(tmp_path / "c.pt", m2, opt2, sched2) == {"step": 4}
    got, _ = S.train_epoch(m2, opt2, sched2, batches[4:])
    assert got == expected


def test_an_in_memory_checkpoint_is_a_copy_not_the_live_tensors():
    batches = _batches(4, seed=2)
    m = _model(0)
    opt = torch.optim.AdamW(m.parameters(), lr=0.05)
    S.train_epoch(m, opt, None, batches[:2])
    saved = S.checkpoint(m, opt, step=2)
    weights = {k: v.clone() for k, v in m.state_dict().items()}
    S.train_epoch(m, opt, None, batches[2:])
    assert all(torch.equal(saved["model"][k], v) for k, v in weights.items())
    m2 = _model(1)
    opt2 = torch.optim.AdamW(m2.parameters(), lr=0.05)
    assert S.restore(saved, m2, opt2) == {"step": 2}
    assert all(torch.equal(m2.state_dict()[k], v) for k, v in weights.items())
