"""The fetch-and-judge engine shared by the Flickr scraper and the local importer.

A bounded thread pool fetches and validates candidates (network and decoding release the GIL); the calling
thread alone claims candidates, deduplicates results and writes rows, so the manifest needs no locks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from scraper.config import ImageRules
from scraper.download import DownloadError
from scraper.manifest import ManifestStore
from scraper.records import Candidate, Status
from scraper.validate import BadImage, ValidImage, normalize_image

#: ``feed(inflight_per_label)`` returns the next ``(candidate, is_retry)`` to consider, or None for "nothing now".
Feed = Callable[[Counter], "tuple[Candidate, bool] | None"]


@dataclass(frozen=True)
class Outcome:
    """What fetching and validating one candidate gave: a status, an error message, and the image if ok."""

    status: Status
    error: str = ""
    image: ValidImage | None = None


def judge(candidate: Candidate, fetch: Callable[[str], bytes], rules: ImageRules) -> Outcome:
    """Return the :class:`Outcome` of fetching ``candidate.url`` and validating the bytes; never raises."""
    if not candidate.url:
        return Outcome(Status.NO_URL, "no usable url_* size in the search answer")
    try:
        data = fetch(candidate.url)
    except DownloadError as exc:
        return Outcome(exc.status, str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad candidate must never end the batch
        return Outcome(Status.FAILED_DOWNLOAD, f"{type(exc).__name__}: {exc}")
    try:
        return Outcome(Status.OK, image=normalize_image(data, rules))
    except BadImage as exc:
        return Outcome(exc.status, str(exc))
    except Exception as exc:  # noqa: BLE001
        return Outcome(Status.BAD_IMAGE, f"{type(exc).__name__}: {exc}")


def run_pool(feed: Feed, store: ManifestStore, fetch: Callable[[str], bytes], rules: ImageRules, workers: int,
             on_result: Callable[[Candidate, Status], None] = lambda c, s: None) -> None:
    """Pull candidates from ``feed``, judge them on ``workers`` threads, and admit every outcome to ``store``.

    At most ``2 * workers`` candidates are in flight, so memory does not grow with the number of images. Ends
    when nothing is in flight and ``feed`` has nothing more.
    """
    inflight: dict[Future, Candidate] = {}
    labels: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool:
        try:
            while True:
                while len(inflight) < 2 * workers:
                    item = feed(labels)
                    if item is None:
                        break
                    candidate, retry = item
                    if not store.claim(candidate, retry=retry):
                        continue
                    inflight[pool.submit(judge, candidate, fetch, rules)] = candidate
                    labels[candidate.label] += 1
                if not inflight:
                    return
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for future in done:
                    candidate = inflight.pop(future)
                    labels[candidate.label] -= 1
                    outcome = future.result()
                    status = store.admit(candidate, outcome.status, outcome.error, outcome.image)
                    on_result(candidate, status)
        finally:
            for future in inflight:
                future.cancel()
