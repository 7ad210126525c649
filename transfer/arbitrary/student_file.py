"""The distilled any-painting student's weights file without TensorFlow: its format tag, the committed default,
and reading its header.

Light on purpose (NumPy only), so the CLI can tell a student file from the previous network's and refuse a wrong
``--model`` before TensorFlow starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from foundation.errors import UserError, check_input_file

#: Format tag inside student weight files (bumped when the layout changes).
FORMAT = "paintvid-student-1"
#: The committed default student.
DEFAULT_STUDENT = Path(__file__).resolve().parent / "weights" / "student_default.npz"


def read_student_header(path: str | Path) -> dict:
    """Return the ``{"format", "spec", "meta"}`` header of a student weights file.

    Raises:
        UserError: missing, unreadable or not a student weights file.
    """
    path = check_input_file(path, "a student weights file (.npz)")
    try:
        with np.load(path) as data:
            header = json.loads(bytes(data["header"]).decode())
    except Exception as exc:  # noqa: BLE001 - any read failure becomes one line
        raise UserError(f"{path}: not a student weights file ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path}: not a student weights file (no {FORMAT} header)")
    return header


def is_student_file(path: str | Path) -> bool:
    """Return True when ``path`` is a readable ``.npz`` with the student's header (False for anything else)."""
    try:
        read_student_header(path)
    except UserError:
        return False
    return True
