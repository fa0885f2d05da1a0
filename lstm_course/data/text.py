"""Text for the character language model, with nothing to download: Python's own documentation.

Every CPython installation ships part of the Python Language Reference as plain text, in the
standard-library module ``pydoc_data.topics`` (it is what ``help("while")`` prints): about
465,000 characters of English prose with quoted code such as ``"while"``, indented examples,
and lines wrapped at about 70 characters.

Licence: the text is part of the Python documentation, Copyright (c) 2001 onwards Python
Software Foundation, distributed under the PSF License Agreement (see
https://docs.python.org/3/license.html). The course does not redistribute it: it reads it
from the Python installation it runs on, so its exact length depends on the Python version.
"""

from __future__ import annotations


def python_docs_text() -> str:
    """All topics of ``pydoc_data.topics``, in sorted topic order, separated by blank lines."""
    try:
        from pydoc_data.topics import topics
    except ImportError as err:  # pragma: no cover - some minimal Python builds leave it out
        raise RuntimeError(
            "This Python has no pydoc_data module (the help() texts); the character-level "
            "chapter needs a standard CPython installation."
        ) from err
    return "\n\n".join(topics[name].strip("\n") for name in sorted(topics))


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """(training text, validation text): the last ``val_fraction`` of the characters is held out."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(text) * (1.0 - val_fraction))
    return text[:cut], text[cut:]
