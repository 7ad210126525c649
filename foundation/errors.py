"""The one exception type that reaches the user as a one-line message (exit code 2), and the input-file check."""

from __future__ import annotations

import os
from pathlib import Path


class UserError(Exception):
    """Bad input from the user: a missing file, an unreadable image, an absurd option.

    The CLI prints ``paintvid: <message>`` and exits with code 2, never a traceback. Messages name
    the file and the problem, e.g. ``style.jpg: not an image OpenCV can decode``.
    """


def check_input_file(path: str | os.PathLike, expected: str) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if it is a non-empty file; else raise :class:`UserError`
    naming it and the problem (missing, a directory, 0 bytes). ``expected`` says what it should be ("an image file")."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected {expected}")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty (0 bytes)")
    return path
