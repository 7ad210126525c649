"""The labelled image table: read the scraper's manifest or a ``{painting,photo}`` folder tree, check, split.

The table (:func:`load_dataset`) is a ``pandas.DataFrame`` with one row per usable image and columns

- ``path``: absolute path (str); ``label``: 1 for painting, 0 for photo (int);
- ``split``: ``train`` / ``val`` / ``test``; ``group``: near-duplicate group id (str; rows of one group share a split).

Images that cannot be decoded are dropped with a logged reason (logger ``classifier.data``) and listed in
:attr:`Dataset.skipped`, never raised: one bad download must not stop a 20k-image training run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from foundation.errors import UserError

log = logging.getLogger("classifier.data")

LABELS = {"photo": 0, "painting": 1}
CLASS_NAMES = ("photo", "painting")
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MANIFEST_COLUMNS = ("label", "path", "status")
#: Largest decoded image accepted (pixels); bigger files are skipped as suspicious.
MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class SplitFractions:
    """Fractions of groups held out when the source has no split of its own (folder trees)."""

    val: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        if not (0 <= self.val < 1 and 0 <= self.test < 1 and self.val + self.test < 1):
            raise UserError(f"split fractions val={self.val}, test={self.test} must be in [0, 1) and sum below 1")


@dataclass
class Dataset:
    """A checked image table plus what was left out and why."""

    table: pd.DataFrame
    source: str
    skipped: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return ``{split: {"painting": n, "photo": n}}``."""
        out: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            part = self.table[self.table["split"] == split]
            out[split] = {name: int((part["label"] == LABELS[name]).sum()) for name in ("painting", "photo")}
        return out


def load_dataset(source: str | Path, seed: int = 0, fractions: SplitFractions = SplitFractions(),
                 check: bool = True) -> Dataset:
    """Return the checked :class:`Dataset` of a manifest CSV or a ``DIR/{painting,photo}/`` folder tree.

    Args:
        source: ``manifest.csv`` (scraper format: uses rows with ``status == "ok"``; ``path`` relative to the
            manifest's folder) or a folder holding ``manifest.csv`` or ``painting/`` and ``photo/`` sub-folders.
        seed: seeds the stratified, near-duplicate-grouped split of sources that have none.
        fractions: validation and test fractions for that split.
        check: decode every image once and drop those that fail (reason logged and kept in ``skipped``).

    Raises:
        UserError: the source does not exist, lacks required columns, or has no usable image of a class.
    """
    source = Path(source)
    if not source.exists():
        raise UserError(f"{source}: no such file or directory (expected a manifest.csv or a folder tree)")
    if source.is_dir() and (source / "manifest.csv").is_file() and not (source / "painting").is_dir():
        source = source / "manifest.csv"
    if source.is_file():
        table = _read_manifest(source)
    else:
        table = _read_folder_tree(source)
    skipped: list[dict] = []
    if check:
        table, skipped = _drop_unreadable(table)
    for name, value in LABELS.items():
        if not (table["label"] == value).any():
            raise UserError(f"{source}: no usable '{name}' images")
    needs_split = ~table["split"].isin(SPLITS)
    if needs_split.any():
        table.loc[needs_split, "split"] = split_groups(
            table.loc[needs_split, "label"].to_numpy(), table.loc[needs_split, "group"].to_numpy(), seed, fractions
        )
    table = table.reset_index(drop=True)
    return Dataset(table=table[["path", "label", "split", "group"]], source=str(source), skipped=skipped)


def _read_manifest(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure becomes one line naming the file
        raise UserError(f"{path}: cannot read CSV ({str(exc).splitlines()[0][:120]})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in raw.columns]
    if missing:
        raise UserError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    rows = raw[raw["status"].str.strip().str.lower() == "ok"].copy()
    bad = ~rows["label"].isin(list(LABELS))
    for _, row in rows[bad].iterrows():
        log.warning("skipping %s: unknown label %r", row["path"], row["label"])
    rows = rows[~bad]
    table = pd.DataFrame({
        "path": [str((path.parent / p).resolve()) for p in rows["path"]],
        "label": rows["label"].map(LABELS).astype(int).to_numpy(),
        "split": rows["split"].str.strip().to_numpy() if "split" in rows else "",
        "group": _manifest_groups(rows),
    })
    return table


def _manifest_groups(rows: pd.DataFrame) -> np.ndarray:
    """Group ids from the manifest's perceptual hashes (near-duplicates share one), else one group per row."""
    if "phash" in rows and (rows["phash"].str.len() > 0).all():
        try:
            hashes = np.array([int(h, 16) for h in rows["phash"]], dtype=np.uint64)
        except ValueError:
            return rows["phash"].to_numpy()
        return np.array([f"g{g}" for g in group_near_duplicates(hashes)])
    return np.array([f"r{i}" for i in range(len(rows))])


def _read_folder_tree(root: Path) -> pd.DataFrame:
    paths, labels = [], []
    for name, value in LABELS.items():
        folder = root / name
        if not folder.is_dir():
            raise UserError(f"{root}: expected sub-folders painting/ and photo/ (or a manifest.csv); {name}/ missing")
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        paths += [str(p.resolve()) for p in found]
        labels += [value] * len(found)
    hashes = np.array([phash_file(p) for p in paths], dtype=np.uint64)
    groups = group_near_duplicates(hashes) if len(paths) else np.array([], dtype=int)
    return pd.DataFrame({"path": paths, "label": np.array(labels, dtype=int), "split": "",
                         "group": [f"g{g}" for g in groups]})


def _drop_unreadable(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    keep, skipped = [], []
    for i, path in enumerate(table["path"]):
        reason = image_problem(path)
        if reason is None:
            keep.append(i)
        else:
            log.warning("skipping %s: %s", path, reason)
            skipped.append({"path": path, "reason": reason})
    return table.iloc[keep].copy(), skipped


def image_problem(path: str | Path) -> str | None:
    """Return why TensorFlow's decoder (the one the training pipeline uses) cannot read ``path``, or None."""
    import tensorflow as tf  # deferred: classifier.plots and the classifier notebook import this module TF-free

    path = Path(path)
    if not path.is_file():
        return "file missing"
    if path.stat().st_size == 0:
        return "file is empty"
    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError, tf.errors.DataLossError) as exc:
        # TF prefixes the reason with '{{function_node ...}}'; keep only the reason
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", str(exc.message)).strip().splitlines()
        return f"cannot decode ({reason[0][:100] if reason else type(exc).__name__})"
    h, w = int(image.shape[0]), int(image.shape[1])
    if h * w == 0:
        return "image has no pixels"
    if h * w > MAX_PIXELS:
        return f"image is {w}x{h}, too large"
    return None


def phash_file(path: str | Path) -> int:
    """Return the 64-bit DCT perceptual hash of an image file (0 when OpenCV cannot decode it)."""
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        return 0
    return int.from_bytes(cv2.img_hash.pHash(image).tobytes(), "big")


def group_near_duplicates(hashes: np.ndarray, max_distance: int = 10) -> np.ndarray:
    """Return one integer group id per 64-bit hash; hashes within ``max_distance`` bits share a group.

    Groups are the connected components of the "within distance" graph (union-find), so chains of small
    edits (resizes, crops, re-encodes of one artwork) end up together.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    as_bytes = hashes.view(np.uint8).reshape(n, 8)
    for start in range(0, n, 512):
        block = as_bytes[start:start + 512]
        xor = np.bitwise_xor(block[:, None, :], as_bytes[None, :, :])
        dist = np.unpackbits(xor, axis=2).sum(axis=2)
        for a, b in zip(*np.nonzero(dist <= max_distance), strict=True):
            ra, rb = find(start + int(a)), find(int(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n)])
    _, ids = np.unique(roots, return_inverse=True)
    return ids


def split_groups(labels: np.ndarray, groups: np.ndarray, seed: int, fractions: SplitFractions) -> np.ndarray:
    """Return ``train``/``val``/``test`` per row: stratified by label, whole groups kept together, seeded."""
    split = np.full(len(labels), "train", dtype=object)
    remaining = np.arange(len(labels))
    for name, frac in (("test", fractions.test), ("val", fractions.val / max(1e-9, 1 - fractions.test))):
        if frac <= 0 or len(remaining) < 4:
            continue
        folds = max(2, round(1 / frac))
        n_groups = len(np.unique(groups[remaining]))
        folds = min(folds, n_groups)
        if folds < 2:
            continue
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        _, held = next(splitter.split(np.zeros(len(remaining)), labels[remaining], groups[remaining]))
        split[remaining[held]] = name
        remaining = np.delete(remaining, held)
    return split
