"""``scrape(ScrapeConfig, Credentials)``: search Flickr per label, download, validate, deduplicate, split.

Resumable: rerunning with the same ``out`` keeps every row and image, tries failed downloads once more, and
continues the searches past the photos it already has.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator

from foundation.atomic import atomic_write_json
from foundation.records import config_json
from scraper.config import Credentials, ScrapeConfig, load_queries
from scraper.download import download, make_session
from scraper.flickr import FlickrClient
from scraper.health import NetworkDown, NetworkWatch
from scraper.manifest import MANIFEST_NAME, ManifestStore
from scraper.pipeline import run_pool
from scraper.progress import Progress
from scraper.ratelimit import TokenBucket
from scraper.records import Candidate, Status
from scraper.report import format_summary, summarize
from scraper.search import QueryState, iter_label_candidates

REPORT_NAME = "scrape_report.json"


def even_targets(n: int, labels: list[str]) -> dict[str, int]:
    """Return ``n`` split as evenly as possible over ``labels`` (the first labels get the remainder)."""
    base, extra = divmod(n, len(labels))
    return {label: base + (1 if i < extra else 0) for i, label in enumerate(labels)}


class _ScrapeFeed:
    """Candidates for the pool: earlier failures first, then the label furthest from its target."""

    def __init__(self, retries: list[Candidate], streams: dict[str, Iterator[Candidate]], targets: dict[str, int],
                 store: ManifestStore, progress: Progress, client: FlickrClient,
                 states: dict[str, list[QueryState]]) -> None:
        self.retries, self.streams, self.targets = list(retries), dict(streams), targets
        self.store, self.progress, self.client, self.states = store, progress, client, states

    def __call__(self, inflight: Counter) -> tuple[Candidate, bool] | None:
        if self.retries:
            return self.retries.pop(), True
        while True:
            wanting = [lb for lb in self.streams if self.store.ok_count(lb) + inflight[lb] < self.targets[lb]]
            if not wanting:
                return None
            label = min(wanting, key=lambda lb: (self.store.ok_count(lb) + inflight[lb]) / self.targets[lb])
            before = sum(s.results for s in self.states[label])
            candidate = next(self.streams[label], None)
            after = sum(s.results for s in self.states[label])
            if after > before:
                failed = sum(s.error is not None for ss in self.states.values() for s in ss)
                self.progress.found(after - before, self.client.calls, failed)
            if candidate is None:
                del self.streams[label]
                continue
            return candidate, False


def scrape(config: ScrapeConfig, credentials: Credentials) -> dict:
    """Build or extend the dataset in ``config.out``; return the run's report (also saved as scrape_report.json).

    The report holds the config (never the credentials), per-label counts (found, ok, rejected by reason,
    split sizes), the queries given up with their error, API calls and timings.

    Raises:
        UserError: bad query file, Flickr refused the key, or the network is gone: ``config.max_consecutive_failures``
            failed requests in a row or ``config.max_stall_seconds`` without progress (:class:`NetworkDown`, naming
            the URL and the last error). The rows so far are saved first, so rerunning resumes.
    """
    start = time.monotonic()
    queries = load_queries(config.queries)
    labels = [label.value for label in queries.queries]
    targets = even_targets(config.n, labels)
    rng = random.Random()
    store = ManifestStore(config.out, config.images, config.split, config.checkpoint_every)
    watch = NetworkWatch(config.max_consecutive_failures, config.max_stall_seconds)
    bucket = TokenBucket.per_hour(config.calls_per_hour, config.burst)
    client = FlickrClient(credentials, config.api_url, config.api_timeout, config.user_agent, bucket,
                          config.api_retry, rng=rng, watch=watch)
    hi = config.max_upload_date or int(time.time())
    lo = min(queries.search.min_upload_date, hi)
    states = {lb.value: [QueryState(lb.value, q) for q in qs] for lb, qs in queries.queries.items()}
    streams = {lb: iter_label_candidates(client, states[lb], queries.search, lo, hi) for lb in labels}
    session = make_session(config.user_agent, config.workers)

    def fetch(url: str) -> bytes:
        return download(session, url, config.download_timeout, config.images.max_bytes, config.download_retry,
                        rng=rng, watch=watch)

    def on_result(_candidate: Candidate, status: Status) -> None:
        progress.result(status)
        watch.check()

    retries = store.retry_candidates()
    progress = Progress(sum(max(0, targets[lb] - store.ok_count(lb)) for lb in labels), config.progress)
    feed = _ScrapeFeed(retries, streams, targets, store, progress, client, states)
    down = None
    try:
        run_pool(feed, store, fetch, config.images, config.workers, on_result)
    except NetworkDown as exc:
        down = exc
    finally:
        progress.close()
        df = store.close()
        session.close()
    if down is not None:
        raise NetworkDown(f"{down}; the {len(df)} rows so far are kept in {config.out / MANIFEST_NAME}: rerun the "
                          "same command to resume") from None
    report = _report(config, targets, df, retries, states, client, time.monotonic() - start)
    atomic_write_json(config.out / REPORT_NAME, report)
    return report


def _report(config: ScrapeConfig, targets: dict[str, int], df, retries: list[Candidate],
            states: dict[str, list[QueryState]], client: FlickrClient, seconds: float) -> dict:
    """Return the run's report (see :func:`scrape`)."""
    per_label = summarize(df)
    failed = [{"label": s.label, "query": s.text, "error": s.error} for ss in states.values() for s in ss if s.error]
    return {
        "config": config_json(config),
        "targets": targets,
        "labels": per_label,
        "retried_from_previous_runs": len(retries),
        "failed_queries": failed,
        "queries": [{"label": s.label, "query": s.text, "api_calls": s.calls, "results": s.results,
                     "windows": s.windows} for ss in states.values() for s in ss if s.calls],
        "api_calls": client.calls,
        "api_retries": client.retries,
        "seconds": round(seconds, 2),
        "summary": format_summary(per_label, failed),
    }
