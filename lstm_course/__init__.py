"""Helper package of the LSTM course: reference implementations, data, plots, training and CLI.

Heavy modules (PyTorch) are imported lazily, so `lstm-course release` starts fast.
"""

from lstm_course.seed import default_device, seed_everything

__all__ = ["LSTM", "default_device", "seed_everything"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "LSTM":
        from lstm_course.lstm import LSTM

        return LSTM
    raise AttributeError(f"module 'lstm_course' has no attribute {name!r}")
