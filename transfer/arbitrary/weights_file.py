"""The arbitrary-style weights file without TensorFlow: where the committed default is, and reading its header.

Light on purpose (NumPy only), so the CLI can refuse a wrong ``--model`` before TensorFlow starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from foundation.errors import UserError, check_input_file

#: Format tag inside weight files (bumped when the layout changes).
FORMAT = "paintvid-arbitrary-1"
#: Where the committed default weights live (``arbitrary_default_<commit>.npz``, see its README.md).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def default_weights() -> Path:
    """Return the newest (by modification time) committed default weights file in :data:`WEIGHTS_DIR`.

    Raises:
        UserError: none is installed (train one with ``make train-arbitrary``).
    """
    files = sorted(WEIGHTS_DIR.glob("arbitrary_default_*.npz"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise UserError(f"{WEIGHTS_DIR}: no arbitrary-style weights installed (train them with "
                        "`make train-arbitrary`, or give --model PATH.npz)")
    return files[-1]


def read_header(path: str | Path) -> dict:
    """Return the ``{"format", "spec", "meta"}`` header of a weights file.

    Raises:
        UserError: missing, unreadable or not an arbitrary-style weights file.
    """
    return read_npz_header(path, "an arbitrary-style weights file", FORMAT)


def read_npz_header(path: str | Path, what: str, format_tag: str) -> dict:
    """Return the JSON ``header`` array of the ``.npz`` at ``path`` as a dict whose ``format`` is ``format_tag``.

    Raises:
        UserError: one line naming ``path`` and ``what`` it should be: missing, unreadable, or another format.
    """
    path = check_input_file(path, f"{what} (.npz)")
    try:
        with np.load(path) as data:
            header = json.loads(bytes(data["header"]).decode())
    except Exception as exc:  # noqa: BLE001 - any read failure becomes one line
        raise UserError(f"{path}: not {what} ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != format_tag:
        raise UserError(f"{path}: not {what} (no {format_tag} header)")
    return header
