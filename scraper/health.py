"""The run-wide bound on network failures: consecutive failed requests and time without any progress.

Retries handle transient faults of one request; this handles a network that is simply gone (connection refused,
DNS failure, TLS error, a server that accepts and never answers, HTTP 5xx on every try). Every request reports
its outcome here (from any thread); the scraper's own thread calls :meth:`NetworkWatch.check`, which raises
:class:`NetworkDown` once either bound is crossed, and retry waits are cut short at the deadline.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import requests

from foundation.errors import UserError

#: Defaults of the run-wide bounds (``ScrapeConfig`` and ``paintvid scrape`` use them): within about a minute a
#: user learns that the API cannot be reached, while a flaky network that answers now and then keeps going.
MAX_FAILURES_IN_ROW = 10
MAX_STALL_SECONDS = 60.0


class NetworkDown(UserError):
    """The network failed ``max_failures`` times in a row or made no progress for ``max_stall`` seconds."""


class NetworkWatch:
    """Counts failures in a row and the time since the last success; thread-safe.

    A success is any answer that shows the other end is reachable (an API page, a permanent API error, an image);
    a failure is a request that never got a usable answer (connection error, timeout, HTTP 5xx / 429).
    """

    def __init__(self, max_failures: int, max_stall: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.max_stall, self._clock = max_failures, max_stall, clock
        self._lock = threading.Lock()
        self._last_progress = clock()
        self.failures_in_row = 0
        self.last_url = ""
        self.last_error = ""

    def succeeded(self) -> None:
        """Record a request that reached the other end."""
        with self._lock:
            self.failures_in_row = 0
            self._last_progress = self._clock()

    def failed(self, url: str, error: str) -> None:
        """Record a request to ``url`` that failed with ``error`` (one line)."""
        with self._lock:
            self.failures_in_row += 1
            self.last_url, self.last_error = url, error

    def remaining(self) -> float:
        """Return the seconds left before the no-progress bound is crossed (0 once it is)."""
        with self._lock:
            return max(0.0, self.max_stall - (self._clock() - self._last_progress))

    def check(self) -> None:
        """Raise :class:`NetworkDown` (one line: the URL, why, the last error) once either bound is crossed."""
        with self._lock:
            stalled = self._clock() - self._last_progress
            if self.failures_in_row >= self.max_failures:
                why = f"{self.failures_in_row} requests failed in a row"
            elif stalled >= self.max_stall and self.failures_in_row:
                why = f"no answer for {stalled:.0f} s ({self.failures_in_row} failed requests)"
            else:
                return
            raise NetworkDown(f"{self.last_url}: cannot reach it, {why}; last error: {self.last_error}")

    def sleep(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait ``seconds`` (a retry's backoff), but no longer than the no-progress bound; then :meth:`check`."""
        sleep(min(seconds, self.remaining()))
        self.check()


def request_error_reason(exc: BaseException) -> str:
    """Return a short reason for a failed ``requests`` call: ``"ConnectionError: Connection refused"``,
    ``"ReadTimeout: no answer in time"``, ``"SSLError: certificate verify failed"``, ``"ConnectionError: DNS
    lookup failed (Name or service not known)"``; never the whole URL (its query could hold a key)."""
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{name}: no answer in time"
    ssl = re.search(r"\[SSL: [A-Z_]+\] ([^'\")(]+)", text)
    if ssl:
        return f"{name}: TLS error, {ssl.group(1).strip()}"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")(\]]+)", text)
    reason = errno.group(1).strip() if errno else ""
    if "resolve" in text.lower() or "getaddrinfo" in text.lower():
        return f"{name}: DNS lookup failed" + (f" ({reason})" if reason else "")
    return f"{name}: {reason}" if reason else name
