"""``import_folder(ImportConfig)``: add local images (WikiArt, your own photos) to a dataset's manifest.

Files go through the same validation, conversion and deduplication as downloads. A file's id is ``local-`` plus
16 hex digits of the SHA-256 of its folder name and relative path, so importing the same folder twice adds
nothing, while the same picture under another name or folder gets a ``duplicate`` row.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from scraper.config import ImageRules, ImportConfig
from scraper.download import DownloadError
from scraper.manifest import ManifestStore
from scraper.pipeline import run_pool
from scraper.progress import Progress
from scraper.records import Candidate, Status
from scraper.report import format_summary, summarize

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"})


def iter_image_files(source: Path) -> list[Path]:
    """Return the image files under ``source`` (recursively, by suffix, hidden files skipped), sorted."""
    return sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(source).parts))


def read_local(uri: str, max_bytes: int) -> bytes:
    """Return the bytes of a ``file://`` URI; raise DownloadError when missing or over ``max_bytes``."""
    path = Path(unquote(urlparse(uri).path))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DownloadError(f"{size} bytes exceeds the limit of {max_bytes}", Status.BAD_IMAGE)
        return path.read_bytes()
    except OSError as exc:
        raise DownloadError(f"cannot read {path.name} ({exc.strerror})") from None


def import_folder(config: ImportConfig) -> dict:
    """Validate and add every image under ``config.source`` with ``config.label``; return a report.

    Raises:
        UserError: the source is not a folder or holds no image files.
    """
    start = time.monotonic()
    source = config.source
    if not source.is_dir():
        raise UserError(f"{source}: not a folder")
    files = iter_image_files(source)
    if not files:
        raise UserError(f"{source}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    store = ManifestStore(config.out, config.images, config.split)
    query = f"import:{source.resolve().name}"
    progress = Progress(len(files), config.progress, search=False)
    results: Counter[str] = Counter()

    def candidates() -> Iterator[Candidate]:
        for path in files:
            digest = hashlib.sha256(f"{query}/{path.relative_to(source).as_posix()}".encode()).hexdigest()
            yield Candidate(id=f"local-{digest[:16]}", label=config.label.value, query=query,
                            url=path.resolve().as_uri())

    stream = candidates()

    def feed(_inflight: Counter) -> tuple[Candidate, bool] | None:
        c = next(stream, None)
        return None if c is None else (c, False)

    def on_result(_c: Candidate, status: Status) -> None:
        results[status.value] += 1
        progress.result(status)

    rules: ImageRules = config.images
    try:
        run_pool(feed, store, lambda uri: read_local(uri, rules.max_bytes), rules, config.workers, on_result)
    finally:
        progress.close()
        df = store.close()
    per_label = summarize(df)
    report = {"source": str(source), "label": config.label.value, "files": len(files), "this_run": dict(results),
              "labels": per_label, "seconds": round(time.monotonic() - start, 2),
              "summary": format_summary(per_label)}
    atomic_write_json(config.out / "import_report.json", report)
    return report
