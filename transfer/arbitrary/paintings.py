"""A painting collection and its deterministic training / held-out split (by artwork, not by file).

The split hashes each painting's *artwork key* — its title in a ``manifest.csv`` beside the folder (the shared
data's layout: ``label,file,...,title,...``), else its file name — so different crops or sizes of one artwork
land on the same side and the held-out score is not inflated. ``heldout_fraction`` of the keys (by hash) are held
out (hashing, rather than a sorted cut, keeps every painting on its side when paintings are added); a collection
too small to have any key under the fraction still holds out its smallest-hash artwork.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import UserError
from media.image_io import IMAGE_SUFFIXES


@dataclass(frozen=True)
class PaintingSplit:
    """Painting files for training and held out from it (each sorted)."""

    train: tuple[Path, ...]
    heldout: tuple[Path, ...]


def find_paintings(paths: Sequence[str | Path]) -> list[Path]:
    """Return the image files under ``paths`` (folders searched recursively), sorted and unique.

    Raises:
        UserError: a path does not exist, a file is not an image, or no image was found.
    """
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder (paintings for training)")
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.add(path)
        else:
            raise UserError(f"{path}: is a file but not an image (give paintings, or folders of them)")
    if not found:
        raise UserError(f"{', '.join(str(p) for p in paths) or '(none)'}: no image files (paintings to train on)")
    return sorted(found)


def artwork_keys(files: Sequence[Path]) -> dict[Path, str]:
    """Return each file's artwork key: its manifest title when a ``manifest.csv`` up the tree names it."""
    titles: dict[Path, str] = {}
    for manifest in {_manifest_for(f) for f in files} - {None}:
        with open(manifest, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("file") and row.get("title"):
                    titles[(manifest.parent / row["file"]).resolve()] = _normalise(row["title"])
    return {f: titles.get(f.resolve(), _normalise(f.stem)) for f in files}


def split_paintings(files: Sequence[Path], heldout_fraction: float = 0.2) -> PaintingSplit:
    """Return the deterministic split of ``files``: a key goes to held-out when its hash falls in the fraction.

    Raises:
        UserError: a fraction outside [0, 1), or a split that leaves no painting to train on.
    """
    if not 0 <= heldout_fraction < 1:
        raise UserError(f"held-out fraction must be in [0, 1), got {heldout_fraction}")
    keys = artwork_keys(files)
    heldout = sorted(f for f in files if _unit_hash(keys[f]) < heldout_fraction)
    if not heldout and heldout_fraction > 0 and len(set(keys.values())) > 1:
        # a small collection can miss the fraction by chance: hold out the artwork with the smallest hash
        first = min(keys.values(), key=_unit_hash)
        heldout = sorted(f for f in files if keys[f] == first)
    train = sorted(set(files) - set(heldout))
    if not train:
        raise UserError("every painting fell in the held-out part; give more paintings")
    return PaintingSplit(tuple(train), tuple(heldout))


def _manifest_for(path: Path) -> Path | None:
    for parent in list(path.resolve().parents)[:3]:
        candidate = parent / "manifest.csv"
        if candidate.is_file():
            return candidate
    return None


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _unit_hash(key: str) -> float:
    """Return a stable number in [0, 1) from ``key`` (first 8 bytes of its SHA-1)."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64
