"""Exponential backoff with jitter around any call that can fail transiently."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from scraper.config import RetryPolicy

T = TypeVar("T")


class GaveUp(Exception):
    """Raised when every try of a retried call failed; ``last`` is the final error, ``tries`` how many were made."""

    def __init__(self, last: BaseException, tries: int) -> None:
        super().__init__(f"gave up after {tries} tries: {last}")
        self.last, self.tries = last, tries


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Return the wait before try ``attempt + 1`` (attempt counts from 0): capped exponential, jittered 50-100 %."""
    return min(policy.max_delay, policy.base_delay * 2.0 ** attempt) * rng.uniform(0.5, 1.0)


def retry_call(fn: Callable[[], T], is_transient: Callable[[BaseException], bool], policy: RetryPolicy,
               rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep,
               on_retry: Callable[[BaseException], None] | None = None) -> T:
    """Return ``fn()``, retrying errors for which ``is_transient`` is true up to ``policy.max_tries`` tries.

    Errors that are not transient propagate at once; when the tries run out :class:`GaveUp` wraps the last one.
    """
    rng = rng or random.Random()
    for attempt in range(policy.max_tries):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified by the caller's predicate
            if not is_transient(exc):
                raise
            if attempt + 1 == policy.max_tries:
                raise GaveUp(exc, attempt + 1) from exc
            if on_retry is not None:
                on_retry(exc)
            sleep(backoff_delay(attempt, policy, rng))
    raise AssertionError("unreachable")
