"""The character language model: batching, chunks, truncated BPTT, sampling, the text source."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstm_course.data.text import python_docs_text, split_text
from lstm_course.tasks import charlm as C
from lstm_course.vocab import Vocab


def test_batchify_makes_columns_of_consecutive_items_and_drops_the_rest():
    out = C.batchify(torch.arange(11), 3)
    assert out.shape == (3, 3)
    assert out[:, 0].tolist() == [0, 1, 2] and out[:, 2].tolist() == [6, 7, 8]


def test_get_chunk_targets_are_the_inputs_shifted_by_one_and_the_last_chunk_is_shorter():
    source = C.batchify(torch.arange(40), 2)          # (20, 2)
    x, y = C.get_chunk(source, 0, 5)
    assert torch.equal(y[:-1], x[1:]) and torch.equal(y[-1], source[5])
    x, y = C.get_chunk(source, 15, 5)
    assert x.shape == (4, 2) and torch.equal(y[-1], source[19])


def test_detach_state_keeps_values_and_drops_the_graph():
    w = torch.ones(2, requires_grad=True)
    state = (w * 2, w * 3)
    h, c = C.detach_state(state)
    assert not h.requires_grad and h.grad_fn is None and torch.equal(c, torch.full((2,), 3.0))


def _tiny_model(seed=0, V=7, H=8):
    torch.manual_seed(seed)
    return C.CharLM(V, hidden_size=H, embedding_dim=4)


def test_tbptt_step_returns_a_detached_state_that_continues_the_sequence():
    model = _tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)      # no change: compare with one long pass
    data = C.batchify(torch.randint(0, 7, (62,), generator=torch.Generator().manual_seed(1)), 2)
    state = None
    for i in (0, 10, 20):
        x, y = C.get_chunk(data, i, 10)
        _, state = C.tbptt_step(model, opt, x, y, state)
        assert state[0].grad_fn is None and state[1].grad_fn is None
    with torch.no_grad():
        _, full_state = model(data[:30])
    torch.testing.assert_close(state[0], full_state[0])
    torch.testing.assert_close(state[1], full_state[1])


def test_tbptt_step_loss_is_the_mean_cross_entropy_before_the_update():
    model = _tiny_model(1)
    x = torch.randint(0, 7, (5, 3), generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 7, (5, 3), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, _ = model(x)
        expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 7), y.reshape(-1))
    loss, _ = C.tbptt_step(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, None)
    assert math.isclose(loss, float(expected), rel_tol=1e-6)


def test_evaluate_of_an_untrained_model_is_about_log_vocab():
    model = _tiny_model(2, V=20, H=8)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    data = C.batchify(torch.randint(0, 20, (300,)), 3)
    assert math.isclose(C.evaluate(model, data, seq_len=7), math.log(20), rel_tol=1e-6)


def test_temperature_probs_sharpens_below_one_and_flattens_above():
    logits = torch.tensor([2.0, 1.0, 0.0])
    p1 = C.temperature_probs(logits, 1.0)
    torch.testing.assert_close(p1, torch.softmax(logits, -1))
    assert C.temperature_probs(logits, 0.5)[0] > p1[0] > C.temperature_probs(logits, 2.0)[0]
    torch.testing.assert_close(C.temperature_probs(logits, 1e6), torch.full((3,), 1 / 3))
    with pytest.raises(ValueError):
        C.temperature_probs(logits, 0.0)


def test_sample_is_reproducible_with_a_seeded_generator_and_starts_with_the_prime():
    vocab = Vocab("abc ", specials=("<unk>",))
    model = C.CharLM(len(vocab), hidden_size=6, embedding_dim=3)
    a = C.sample(model, vocab, "ab", 20, temperature=1.0, generator=torch.Generator().manual_seed(0))
    b = C.sample(model, vocab, "ab", 20, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert a == b and a.startswith("ab") and len(a) == 22


def test_cell_trace_matches_the_final_cell_state_of_one_pass():
    vocab = Vocab("abc", specials=("<unk>",))
    model = C.CharLM(len(vocab), hidden_size=5, embedding_dim=3)
    cs = C.cell_trace(model, vocab, "abcab")
    with torch.no_grad():
        _, (_, c) = model(vocab.encode("abcab").unsqueeze(1))
    assert cs.shape == (5, 5)
    np.testing.assert_allclose(cs[-1], c[0, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_training_lowers_the_validation_loss_on_a_repetitive_text():
    torch.manual_seed(0)
    text = "the cat sat on the mat. " * 60
    vocab = Vocab(sorted(set(text)), specials=("<unk>",))
    data = vocab.encode(text)
    model = C.CharLM(len(vocab), hidden_size=32, embedding_dim=8)
    hist = C.train_tbptt(model, C.batchify(data[:1200], 4), C.batchify(data[1200:], 2), steps=60,
                         seq_len=20, lr=1e-2, eval_every=30, show_progress=False)
    assert hist["step"] == [30, 60]
    assert hist["val"][-1] < 0.5 * math.log(len(vocab))


def test_the_python_docs_text_is_long_and_split_keeps_every_character():
    text = python_docs_text()
    assert len(text) > 100_000 and '"while"' in text
    train, val = split_text(text, 0.1)
    assert train + val == text and abs(len(val) - 0.1 * len(text)) <= 1


def test_real_word_fraction_counts_runs_of_letters_against_a_vocabulary():
    assert C.words_of('x = obj.__get__(key) + 3.5e2 "while"') == ["x", "obj", "get", "key", "e", "while"]
    fraction, n = C.real_word_fraction("the cat sat on teh mat", {"the", "cat", "sat", "on", "mat"})
    assert n == 6 and fraction == pytest.approx(5 / 6)
    assert C.real_word_fraction("The", ["the"]) == (0.0, 1)              # case-sensitive
    fraction, n = C.real_word_fraction("  ... 42 ", {"the"})
    assert n == 0 and math.isnan(fraction)


def test_continuations_leave_out_the_prime_and_cut_at_the_last_whitespace():
    torch.manual_seed(0)
    vocab = Vocab(list("ab \n"), specials=("<unk>",))
    model = C.CharLM(len(vocab), hidden_size=8, embedding_dim=4)
    primes = ["ab ", "ba\n"]
    outs = C.continuations(model, vocab, primes, 40, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    for prime, out in zip(primes, outs, strict=True):
        full = C.sample(model, vocab, prime, 40, generator=g)[len(prime):]
        assert out == full[:max(full.rfind(" "), full.rfind("\n"))]
