"""The vocabulary: add_word indices, unknown tokens, encoding to tensors and back."""

from __future__ import annotations

import pytest
import torch

from lstm_course.vocab import PAD, UNK, Vocab, add_word


def test_add_word_gives_each_new_word_the_next_index_and_keeps_old_ones():
    d: dict[str, int] = {}
    assert [add_word(w, d) for w in "the cat ate the cheese".split()] == [0, 1, 2, 0, 3]
    assert d == {"the": 0, "cat": 1, "ate": 2, "cheese": 3}


def test_specials_come_first_then_tokens_in_order_of_first_appearance():
    v = Vocab("b a b c".split())
    assert v.itos == [PAD, UNK, "b", "a", "c"]
    assert (v.pad_index, v.unk_index, len(v)) == (0, 1, 5)


def test_unknown_tokens_map_to_the_unknown_index_not_a_key_error():
    v = Vocab(["cat"])
    assert v.index("giraffe") == v.unk_index
    assert v.encode(["cat", "giraffe"]).tolist() == [2, 1]


def test_a_vocabulary_without_unknown_token_raises_for_unknown_tokens():
    tags = Vocab(["DET", "NN"], specials=())
    assert tags.pad_index is None and tags.unk_index is None
    with pytest.raises(KeyError):
        tags.index("V")


def test_encode_gives_a_long_tensor_and_decode_inverts_it():
    v = Vocab("she read that book".split())
    ids = v.encode("that book she".split())
    assert ids.dtype == torch.long and ids.shape == (3,)
    assert v.decode(ids) == ["that", "book", "she"]
    assert v.decode(ids.tolist()) == ["that", "book", "she"]


def test_add_returns_the_existing_index_for_a_known_token():
    v = Vocab(["x"])
    assert v.add("x") == 2 and v.add("y") == 3 and len(v) == 4
