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


def set_forget_bias(module: nn.Module, value: float) -> None:
    """Set the forget-gate bias of every LSTM in ``module`` to ``value``.

    Works on PyTorch's ``nn.LSTM`` and ``nn.LSTMCell`` (gates packed i, f, g, o), on the course's
    LSTM and its cells, and on the variant cells of Chapter 10 (wherever their gates put f), and on
    any model holding them. PyTorch keeps two biases, b_ih and b_hh, which add up: ``value`` goes
    into b_ih and 0 into b_hh, so that their sum is ``value``. Cells without a forget gate (NFG) or
    without biases are left alone; a module with no forget-gate bias at all is an error.
    """
    from lstm_course.modules.lstm import LSTMCell
    from lstm_course.modules.variants import LSTMVariantCell

    found = False
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.LSTM | nn.LSTMCell):
                H, k = sub.hidden_size, 1
                biases = [(p, name.startswith("bias_ih")) for name, p in sub.named_parameters(recurse=False)
                          if name.startswith(("bias_ih", "bias_hh"))]
            elif isinstance(sub, LSTMVariantCell | LSTMCell) and sub.bias_ih is not None:
                gates = sub.variant.gates if isinstance(sub, LSTMVariantCell) else "ifgo"
                if "f" not in gates:
                    continue
                H, k = sub.hidden_size, gates.index("f")
                biases = [(sub.bias_ih, True), (sub.bias_hh, False)]
            else:
                continue
            for bias, is_ih in biases:
                bias[k * H:(k + 1) * H] = value if is_ih else 0.0
                found = True
    if not found:
        raise ValueError(f"{type(module).__name__} has no forget-gate bias to set")


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
