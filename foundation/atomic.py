"""Write-then-rename helpers so that a job killed at any moment never leaves a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from foundation.records import jsonable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``; returns ``path``.

    The temporary file sits in the same directory (same filesystem, so the rename is atomic) and keeps
    the final suffix, so writers that infer the format from the extension (cv2.imwrite) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp's 0600 would otherwise survive the rename
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; returns ``path``."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    return atomic_write(path, lambda p: p.write_text(text + "\n"))


def _json_default(obj: Any) -> Any:
    """Make paths, enums, dataclasses and NumPy values JSON-serialisable (the one conversion, ``jsonable``)."""
    converted = jsonable(obj)
    if converted is obj:
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
    return converted
