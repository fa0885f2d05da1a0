"""Seeding and device choice, so every notebook is repeatable and device-agnostic."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and (if installed) PyTorch; return a fresh NumPy Generator."""
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but NumPy chapters need not pay
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)


def default_device():
    """The device the course's PyTorch code runs on: CUDA when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
