"""One error hierarchy for everything a user can get wrong.

Every message names *where* (file and line when there is one), *what was expected* and, when we
know it, *how to fix it*, so the user never has to read a traceback to act.
"""

from __future__ import annotations

from pathlib import Path


class ProbekitError(Exception):
    """Base class of all errors probekit raises on bad input or bad configuration."""


class DataFormatError(ProbekitError, ValueError):
    """Malformed input data (a CoNLL-U line, an IOB2 tag, a JSONL record, a span ...).

    Parameters
    ----------
    message : str
        What is wrong.
    path : str or Path, optional
        File the bad input came from.
    line : int, optional
        1-based line number in ``path``.
    expected : str, optional
        What a valid input looks like.
    fix : str, optional
        How the user can repair it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.expected = expected
        self.fix = fix
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        text = where + message
        if expected:
            text += f" (expected {expected})"
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text)


class ConfigError(ProbekitError, ValueError):
    """A bad suite key, an unknown task/probe name, an invalid option value."""
