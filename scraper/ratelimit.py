"""A thread-safe token bucket that keeps API calls under Flickr's per-key hourly quota."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Allow at most ``capacity`` calls at once and ``rate`` calls per second on average.

    With ``rate = (per_hour - capacity) / 3600`` no window of one hour can hold more than ``per_hour`` calls:
    the bucket starts full (``capacity``) and refills by at most ``rate * 3600`` within the hour.
    """

    def __init__(self, capacity: int, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError(f"capacity must be >= 1 and rate > 0, got {capacity}, {rate}")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._clock, self._sleep = clock, sleep
        self._tokens = float(capacity)
        self._last = clock()
        self._lock = threading.Lock()

    @classmethod
    def per_hour(cls, calls_per_hour: int, burst: int, **kwargs) -> TokenBucket:
        """Return a bucket that never lets more than ``calls_per_hour`` calls through in any hour."""
        return cls(burst, (calls_per_hour - burst) / 3600.0, **kwargs)

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - 1e-9:  # tolerance: float refills can land a hair under 1
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return waited
                need = (1.0 - self._tokens) / self.rate
            self._sleep(need)
            waited += need
