"""The distilled any-painting student's weights file without TensorFlow: its format tag, the committed default,
and reading its header.

Light on purpose (NumPy only), so the CLI can tell a student file from the previous network's and refuse a wrong
``--model`` before TensorFlow starts.
"""

from __future__ import annotations

from pathlib import Path

from foundation.errors import UserError
from transfer.arbitrary.weights_file import read_npz_header

#: Format tag inside student weight files (bumped when the layout changes).
FORMAT = "paintvid-student-1"
#: The committed default student.
DEFAULT_STUDENT = Path(__file__).resolve().parent / "weights" / "student_default.npz"


def read_student_header(path: str | Path) -> dict:
    """Return the ``{"format", "spec", "meta"}`` header of a student weights file.

    Raises:
        UserError: missing, unreadable or not a student weights file.
    """
    return read_npz_header(path, "a student weights file", FORMAT)


def is_student_file(path: str | Path) -> bool:
    """Return True when ``path`` is a readable ``.npz`` with the student's header (False for anything else)."""
    try:
        read_student_header(path)
    except UserError:
        return False
    return True
