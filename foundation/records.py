"""Configs and results as JSON: the one conversion of dataclasses, paths, enums and NumPy values."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any


def jsonable(obj: Any) -> Any:
    """Return ``obj`` with dataclasses as dicts, paths as strings, enums as values, tuples as lists and NumPy
    scalars/arrays as Python numbers/lists, recursively, so that it can be stored in JSON or fingerprinted."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):
        return obj.tolist()
    return obj


def config_json(config: Any, exclude: tuple[str, ...] = ()) -> dict:
    """Return a frozen-dataclass config as a JSON-friendly dict, without the fields named in ``exclude``."""
    data = jsonable(config)
    return {k: v for k, v in data.items() if k not in exclude}
