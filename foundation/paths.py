"""Checking where a command will write, before any work starts: extension, folder, and not an input file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from foundation.errors import UserError


def check_output_path(path: str | os.PathLike, suffixes: Iterable[str], inputs: Iterable[str | os.PathLike] = (),
                      what: str = "output") -> Path:
    """Return ``path`` as a Path if a file can be written there; else raise :class:`UserError` naming the problem.

    Checks, in order: the extension is one of ``suffixes`` (e.g. ``(".png", ".jpg")``, compared case-blind),
    ``path`` is not a directory, its folder exists or can be created and is writable, and it is not the same
    file as any of ``inputs`` (writing there would destroy the input). Nothing is created.
    """
    path = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if path.suffix.lower() not in allowed:
        shown = repr(path.suffix) if path.suffix else "no extension"
        choices = allowed[0] if len(allowed) == 1 else "one of " + ", ".join(allowed)
        raise UserError(f"{path}: unsupported {what} extension ({shown}); use {choices}")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; the {what} must be a file")
    _check_creatable_folder(path.parent, path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise UserError(f"{path}: is the input file {source}; choose another {what} name")
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Return ``path`` as a Path if it is (or can be created as) a writable folder; else raise :class:`UserError`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; the {what} must be a folder")
    _check_creatable_folder(path, path)
    return path


def _check_creatable_folder(folder: Path, target: Path) -> None:
    """Raise UserError unless ``folder`` exists as a writable directory or could be made inside one."""
    existing = folder if str(folder) else Path(".")
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{target}: cannot create its folder, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{target}: folder {existing} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
