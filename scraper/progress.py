"""tqdm bars for searching and downloading, with rates and failure counts (silent when disabled)."""

from __future__ import annotations

from collections import Counter

from tqdm import tqdm

from scraper.records import Status


class Progress:
    """Two bars: photos found by the search, and images judged (ok/s rate, failures by reason as postfix)."""

    def __init__(self, total_images: int, enabled: bool, search: bool = True) -> None:
        self.enabled = enabled
        self.search = tqdm(desc="search", unit="photo", disable=not enabled or not search, position=0,
                           dynamic_ncols=True)
        self.images = tqdm(desc="images", unit="img", total=total_images, disable=not enabled, position=1,
                           dynamic_ncols=True)
        self.failures: Counter[str] = Counter()

    def found(self, n: int, calls: int, failed_queries: int) -> None:
        """Count ``n`` more photos returned by the API."""
        self.search.update(n)
        self.search.set_postfix(api_calls=calls, failed_queries=failed_queries, refresh=False)

    def result(self, status: Status) -> None:
        """Count one judged candidate; only ok ones advance the bar towards its total."""
        if status == Status.OK:
            self.images.update(1)
        else:
            self.failures[status.value] += 1
            self.images.set_postfix(self.failures, refresh=False)

    def close(self) -> None:
        self.search.close()
        self.images.close()
