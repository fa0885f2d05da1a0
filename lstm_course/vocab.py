"""A vocabulary: a growing two-way map between tokens (words, tags, characters) and indices.

It is the ``add_word`` idea of the classic PyTorch tagger, made safe for test time:

* :meth:`Vocab.add` gives each *new* token the next free index (``len(vocab)``) and returns
  the index of a token it already knows;
* :meth:`Vocab.index` maps a token it has never seen to the unknown-token index ``unk_index``
  instead of raising ``KeyError`` (when the vocabulary has an unknown token);
* :meth:`Vocab.encode` turns a sequence of tokens into a ``torch.long`` tensor of shape (T,),
  ready for ``nn.Embedding``; :meth:`Vocab.decode` goes back.

Special tokens come first, so with the default ``specials=("<pad>", "<unk>")`` padding is
index 0 and the unknown token index 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

PAD, UNK = "<pad>", "<unk>"


def add_word(word: str, dictionary: dict[str, int]) -> int:
    """Give ``word`` the next free index if it is new; return its index (the seed's helper)."""
    if word not in dictionary:
        dictionary[word] = len(dictionary)
    return dictionary[word]


class Vocab:
    """Tokens <-> indices. ``Vocab(tokens, specials=(PAD, UNK))``; ``specials=()`` for tag sets."""

    def __init__(self, tokens: Iterable[str] = (), *, specials: Sequence[str] = (PAD, UNK)):
        self.stoi: dict[str, int] = {}
        self.itos: list[str] = []
        for token in (*specials, *tokens):
            self.add(token)
        self.specials = tuple(specials)

    def add(self, token: str) -> int:
        """Index of ``token``, adding it with the next free index if it is new."""
        if token not in self.stoi:
            self.stoi[token] = len(self.itos)
            self.itos.append(token)
        return self.stoi[token]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    @property
    def pad_index(self) -> int | None:
        """Index of the padding token, or None when the vocabulary has none."""
        return self.stoi.get(PAD)

    @property
    def unk_index(self) -> int | None:
        """Index of the unknown token, or None when the vocabulary has none."""
        return self.stoi.get(UNK)

    def index(self, token: str) -> int:
        """Index of ``token``; an unknown token gets ``unk_index`` (KeyError if there is none)."""
        if token in self.stoi:
            return self.stoi[token]
        if self.unk_index is None:
            raise KeyError(f"{token!r} is not in the vocabulary and it has no {UNK} token")
        return self.unk_index

    def token(self, index: int) -> str:
        return self.itos[index]

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Tokens -> ``torch.long`` tensor of shape (T,)."""
        return torch.tensor([self.index(t) for t in tokens], dtype=torch.long)

    def decode(self, indices: Iterable[int] | torch.Tensor) -> list[str]:
        """Indices (a list or a 1-d tensor) -> list of tokens."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        return [self.itos[int(i)] for i in indices]

    def __repr__(self) -> str:
        head = ", ".join(self.itos[:8])
        return f"Vocab({len(self)} tokens: {head}{', ...' if len(self) > 8 else ''})"
