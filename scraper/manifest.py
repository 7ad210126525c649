"""The manifest: one row per candidate image, kept crash-safe with a journal, deduplicated, split, and loadable.

Layout of a dataset folder ``DIR``::

    DIR/manifest.csv                 columns COLUMNS; ``path`` is relative to DIR
    DIR/images/{painting,photo}/ID.jpg
    DIR/.manifest.journal.jsonl      rows admitted since manifest.csv was last rewritten (JSON lines)

Every admitted row is appended to the journal (after its image file has been renamed into place), and every
``checkpoint_every`` rows the whole CSV is rewritten atomically and the journal emptied. A process killed at any
moment therefore loses at most the row being written; its image, if any, is an orphan that the next run deletes.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from foundation.atomic import atomic_write, atomic_write_bytes
from foundation.errors import UserError
from scraper.config import ImageRules, SplitConfig
from scraper.phash import PhashIndex, from_hex, to_hex
from scraper.records import RETRIED, Candidate, Status
from scraper.split import apply_split
from scraper.validate import ValidImage

COLUMNS = ("id", "label", "query", "owner", "owner_name", "license", "url", "page_url", "path", "sha256", "phash",
           "width", "height", "status", "error", "split")
MANIFEST_NAME = "manifest.csv"
JOURNAL_NAME = ".manifest.journal.jsonl"
IMAGES_DIR = "images"

Key = tuple[str, str, str]  # (id, label, query): one candidate


def load_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Return the manifest at ``path`` (a ``.csv``/``.parquet`` file or its folder) as a DataFrame.

    Columns are exactly :data:`COLUMNS`; text columns are ``str`` with ``""`` for missing values, ``width`` and
    ``height`` are nullable ``Int64``. ``path`` is relative to the manifest's folder. Usable images are the rows
    with ``status == "ok"``; their ``split`` is ``train``, ``val`` or ``test``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.exists():
        raise UserError(f"{path}: no such manifest")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path).astype(str).replace({"nan": "", "None": "", "<NA>": ""})
        else:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, ImportError) as exc:
        raise UserError(f"{path}: cannot read manifest ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: not a scraper manifest (missing columns {', '.join(missing)})")
    df = df[list(COLUMNS)].copy()
    for col in ("width", "height"):
        df[col] = pd.to_numeric(df[col].replace("", None), errors="coerce").astype("Int64")
    return df


def image_relpath(label: str, photo_id: str) -> str:
    """Return ``images/LABEL/ID.jpg`` (``/`` separated), with characters unsafe in file names replaced."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", photo_id).lstrip(".") or "_"
    return f"{IMAGES_DIR}/{label}/{safe}.jpg"


class ManifestStore:
    """All rows of one dataset folder, with the indices that deduplicate new images against them.

    Single-threaded by design: only the coordinating thread calls :meth:`claim` and :meth:`admit`.
    """

    def __init__(self, root: str | os.PathLike, rules: ImageRules, split: SplitConfig,
                 checkpoint_every: int = 200) -> None:
        self.root = Path(root)
        self.path = self.root / MANIFEST_NAME
        self.journal_path = self.root / JOURNAL_NAME
        self.rules, self.split = rules, split
        self.checkpoint_every = max(1, checkpoint_every)
        self.rows: dict[Key, dict] = {}
        self._owner: dict[str, Key] = {}        # photo id -> the candidate row that owns it
        self._sha: dict[str, str] = {}          # sha256 of stored JPEG -> photo id
        self._phash = PhashIndex()              # payload: photo id
        self._ok: Counter[str] = Counter()      # usable images per label
        self._pending: set[Key] = set()         # claimed, not yet admitted (in flight)
        self._since_save = 0
        self.root.mkdir(parents=True, exist_ok=True)
        self._load()
        self._remove_orphans()
        self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the store

    # ---- loading -------------------------------------------------------------------------------------------------
    def _load(self) -> None:
        rows: dict[Key, dict] = {}
        if self.path.exists():
            for row in load_manifest(self.path).astype(object).to_dict("records"):
                rows[_key(row)] = _clean(row)
        if self.journal_path.exists():
            for line in self.journal_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill: that candidate is simply processed again
                if isinstance(row, dict) and all(c in row for c in COLUMNS):
                    rows[_key(row)] = _clean(row)
        for key, row in rows.items():
            if row["status"] in (Status.OK, Status.SURPLUS):
                row["status"] = Status.OK.value
                file = self.root / row["path"] if row["path"] else None
                if file is None or not file.is_file() or file.stat().st_size == 0:
                    row.update(status=Status.FAILED_DOWNLOAD.value, error="image file missing on resume", path="",
                               split="")
            self.rows[key] = row
        # owners first: an id-duplicate row may precede the row of the candidate it duplicates
        for key, row in sorted(self.rows.items(), key=lambda kv: kv[1]["status"] == Status.DUPLICATE):
            self._register(key, row)

    def _register(self, key: Key, row: dict) -> None:
        self._owner.setdefault(row["id"], key)
        if row["status"] == Status.OK:
            self._ok[row["label"]] += 1
            if row["sha256"]:
                self._sha[row["sha256"]] = row["id"]
            if row["phash"]:
                self._phash.add(from_hex(row["phash"]), row["id"])

    def _remove_orphans(self) -> None:
        """Delete temp files and images no ok row points at (left by a run killed between file and row)."""
        images = self.root / IMAGES_DIR
        if not images.is_dir():
            return
        wanted = {row["path"] for row in self.rows.values() if row["status"] == Status.OK}
        for file in images.glob("*/*"):
            rel = file.relative_to(self.root).as_posix()
            if file.is_file() and rel not in wanted:
                file.unlink()

    # ---- queries -------------------------------------------------------------------------------------------------
    def ok_count(self, label: str) -> int:
        """Return the number of usable images of ``label`` (before class balancing)."""
        return self._ok[label]

    def known(self, candidate: Candidate) -> bool:
        """Return True when this exact candidate (id, label, query) already has a row."""
        return _key_of(candidate) in self.rows

    def retry_candidates(self) -> list[Candidate]:
        """Return the candidates whose rows end in a retried status (failed downloads), for one more try."""
        out = []
        for row in self.rows.values():
            if row["status"] in RETRIED and row["url"]:
                out.append(Candidate(id=row["id"], label=row["label"], query=row["query"], url=row["url"],
                                     owner=row["owner"], owner_name=row["owner_name"], license=row["license"],
                                     page_url=row["page_url"]))
        return out

    # ---- updates -------------------------------------------------------------------------------------------------
    def claim(self, candidate: Candidate, retry: bool = False) -> bool:
        """Return True if ``candidate`` should be fetched now; record a ``duplicate`` row when its id is taken.

        The same (id, label, query) seen again (Flickr repeats results across pages) is skipped without a row;
        with ``retry`` an existing row of this candidate may be fetched again.
        """
        key = _key_of(candidate)
        if key in self._pending or (key in self.rows and not retry):
            return False
        owner = self._owner.get(candidate.id)
        if owner is not None and owner != key:
            if key not in self.rows:
                where = "locally" if owner[2].startswith("import:") else f"by query {owner[2]!r}"
                self._write_row(candidate, Status.DUPLICATE, f"photo id already found {where} (label {owner[1]})")
            return False
        self._owner[candidate.id] = key
        self._pending.add(key)
        return True

    def admit(self, candidate: Candidate, status: Status, error: str = "", image: ValidImage | None = None) -> Status:
        """Record the outcome of a fetched candidate; store its image unless it duplicates one. Returns the status."""
        self._pending.discard(_key_of(candidate))
        if status == Status.OK:
            if image is None:
                raise ValueError("an ok outcome needs its image")
            same = self._sha.get(image.sha256)
            near = None if same else self._phash.nearest(image.phash, self.rules.phash_distance)
            if same or near:
                match, dist = (same, 0) if same else near
                return self._write_row(candidate, Status.DUPLICATE,
                                       f"near-identical to image {match} (pHash distance {dist})", image=image)
            rel = image_relpath(candidate.label, candidate.id)
            atomic_write_bytes(self.root / rel, image.jpeg)
            self._ok[candidate.label] += 1
            self._sha[image.sha256] = candidate.id
            self._phash.add(image.phash, candidate.id)
            return self._write_row(candidate, Status.OK, "", image=image, path=rel)
        return self._write_row(candidate, status, error)

    def _write_row(self, c: Candidate, status: Status, error: str, image: ValidImage | None = None,
                   path: str = "") -> Status:
        row = {"id": c.id, "label": c.label, "query": c.query, "owner": c.owner, "owner_name": c.owner_name,
               "license": c.license, "url": c.url, "page_url": c.page_url, "path": path,
               "sha256": image.sha256 if image else "", "phash": to_hex(image.phash) if image else "",
               "width": image.width if image else "", "height": image.height if image else "",
               "status": status.value, "error": error.replace("\n", " ")[:300], "split": ""}
        self.rows[_key_of(c)] = row
        self._journal.write(json.dumps(row) + "\n")
        self._journal.flush()
        self._since_save += 1
        if self._since_save >= self.checkpoint_every:
            self.save()
        return status

    def dataframe(self) -> pd.DataFrame:
        """Return all rows, balanced and split (the content manifest.csv gets on the next save)."""
        df = pd.DataFrame(list(self.rows.values()), columns=list(COLUMNS))
        if df.empty:
            return df.astype(str)
        df = apply_split(df.fillna(""), self.split)
        return df

    def save(self) -> pd.DataFrame:
        """Rewrite manifest.csv atomically (balanced and split) and empty the journal; returns the rows written."""
        df = self.dataframe()
        atomic_write(self.path, lambda p: df.to_csv(p, index=False))
        for row, split in zip(self.rows.values(), df["split"].tolist(), strict=True):
            row["split"] = split  # sticky: the next save keeps these assignments
        self._journal.seek(0)
        self._journal.truncate()
        self._since_save = 0
        return df

    def close(self) -> pd.DataFrame:
        """Save and close the journal (removed when empty); returns the rows written."""
        df = self.save()
        self._journal.close()
        if self.journal_path.exists() and self.journal_path.stat().st_size == 0:
            self.journal_path.unlink()
        return df


def _key(row: dict) -> Key:
    return (str(row["id"]), str(row["label"]), str(row["query"]))


def _key_of(c: Candidate) -> Key:
    return (c.id, c.label, c.query)


def _clean(row: dict) -> dict:
    """Return a row with exactly COLUMNS, missing values as ''."""
    out = {}
    for col in COLUMNS:
        value = row.get(col, "")
        out[col] = "" if value is None or (isinstance(value, float) and value != value) or value is pd.NA else value
    return out
