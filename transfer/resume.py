"""Resuming a training run from its checkpoints: the JSON saved beside each, and the refusal of other options.

Shared by :mod:`transfer.fast.train` and :mod:`transfer.arbitrary.train`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from foundation.errors import UserError


def checkpoint_json(prefix: str) -> dict:
    """Return the options and histories saved beside checkpoint ``prefix`` (empty when there is no JSON)."""
    path = Path(f"{prefix}.json")
    return json.loads(path.read_text()) if path.is_file() else {}


def refuse_other_options(saved: dict | None, current: dict, workdir: Path, ignore: Iterable[str] = ()) -> None:
    """Refuse to resume checkpoints whose saved options differ from ``current`` in any key outside ``ignore``.

    Nothing is refused when no options were saved.

    Raises:
        UserError: naming ``workdir`` and the options that differ.
    """
    if not saved:
        return
    skip = set(ignore)
    changed = sorted(k for k in saved.keys() | current.keys() if k not in skip and saved.get(k) != current.get(k))
    if changed:
        raise UserError(f"{workdir}: its checkpoints were trained with other options "
                        f"({', '.join(changed)}); give another --workdir, or delete it to start over")
