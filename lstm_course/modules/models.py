"""Small PyTorch models the chapters train: a recurrent layer read out at the last step."""

from __future__ import annotations

import torch
from torch import nn

_RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class SequenceClassifier(nn.Module):
    """Reads a sequence with an RNN, LSTM or GRU and classifies it from the last hidden state.

    x: (T, batch, input_size) -> logits: (batch, n_classes)
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, n_classes: int,
                 forget_bias: float | None = None):
        super().__init__()
        if kind not in _RECURRENT:
            raise ValueError(f"kind must be one of {sorted(_RECURRENT)}, got {kind!r}")
        self.kind = kind
        self.rnn = _RECURRENT[kind](input_size, hidden_size)
        self.head = nn.Linear(hidden_size, n_classes)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[-1])


def set_forget_bias(lstm: nn.LSTM | nn.LSTMCell, value: float) -> None:
    """Set the forget-gate bias of every layer to ``value`` (PyTorch packs gates i, f, g, o).

    PyTorch has two biases per layer, b_ih and b_hh, which add up; we put ``value`` in b_ih
    and zero in b_hh so that their sum is ``value``.
    """
    if not isinstance(lstm, nn.LSTM | nn.LSTMCell):
        raise TypeError(f"set_forget_bias needs an nn.LSTM or nn.LSTMCell, got {type(lstm).__name__}")
    H = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[H:2 * H] = value
            elif name.startswith("bias_hh"):
                param[H:2 * H] = 0.0


def scale_input_weights(rnn: nn.RNNBase, factor: float) -> None:
    """Multiply the input-to-hidden weights ``weight_ih_l*`` of every layer by ``factor``.

    PyTorch draws all recurrent-layer weights from U(-1/sqrt(H), 1/sqrt(H)); with few, small
    inputs (the adding problem's value and marker) a larger input scale lets the gates react
    to the inputs from the first step.
    """
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            if name.startswith("weight_ih"):
                param.mul_(factor)
