"""One exception type for every user-facing failure.

The CLI prints ``str(err)`` as one line and exits non-zero; tracebacks only with ``--debug``.
"""
from __future__ import annotations

from typing import Optional


class ColorizeError(Exception):
    """A failure the user can act on.

    The message names the file, the frame and the problem, and where possible what to do.
    ``exit_code`` lets the CLI distinguish classes of failure (2 = bad input, 3 = missing
    model, 4 = cache/locking, 130 = interrupted).
    """

    exit_code = 2

    def __init__(self, problem: str, *, file: Optional[str] = None, frame: Optional[int] = None,
                 hint: Optional[str] = None, exit_code: Optional[int] = None):
        self.problem = problem
        self.file = file
        self.frame = frame
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.frame is not None:
            parts.append(f"frame {self.frame}")
        head = ": ".join(parts)
        msg = f"{head}: {self.problem}" if head else self.problem
        if self.hint:
            msg += f" ({self.hint})"
        return msg.replace("\n", " ")


class InputError(ColorizeError):
    """Unreadable, missing or invalid input (plates, references, shot files)."""
    exit_code = 2


class ModelError(ColorizeError):
    """Missing or invalid model weights."""
    exit_code = 3


class CacheError(ColorizeError):
    """Cache unusable: read-only folder, lock held, other version."""
    exit_code = 4


def did_you_mean(word: str, choices, aliases: Optional[dict] = None) -> Optional[str]:
    """The choice ``word`` most likely meant (a near miss: a typo, other case or punctuation,
    or one of ``aliases``, a {wrong word: choice} of names people use for a choice), or None.
    For the "did you mean X?" of a refused name."""
    import difflib

    text = str(word).strip().lower()
    squashed = "".join(ch for ch in text if ch.isalnum())
    choices = [str(c) for c in choices]
    for c in choices:
        if text == c.lower() or squashed == "".join(ch for ch in c.lower() if ch.isalnum()):
            return c
    for key in (text, squashed):
        if aliases and key in aliases:
            return aliases[key]
    close = difflib.get_close_matches(text, [c.lower() for c in choices], n=1, cutoff=0.6)
    if close:
        return next(c for c in choices if c.lower() == close[0])
    return None
