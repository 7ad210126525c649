"""Fetching image bytes with ``requests``: timeouts, retries, a byte limit and a content-type check."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter

from scraper.config import RetryPolicy
from scraper.health import NetworkWatch
from scraper.records import Status
from scraper.retry import GaveUp, retry_call


class DownloadError(Exception):
    """A fetch that produced no image bytes. ``transient`` errors are worth another try."""

    def __init__(self, message: str, status: Status = Status.FAILED_DOWNLOAD, transient: bool = False) -> None:
        super().__init__(message)
        self.status, self.transient = status, transient


def make_session(user_agent: str, pool_size: int) -> requests.Session:
    """Return a session with our User-Agent and a connection pool big enough for ``pool_size`` threads."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, pool_size))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_once(session: requests.Session, url: str, timeout: float, max_bytes: int) -> bytes:
    """Return the body of ``url``; raise :class:`DownloadError` for HTTP errors, non-images and oversized bodies.

    ``timeout`` bounds the connection and each read; the whole transfer may take at most three times that.
    """
    deadline = time.monotonic() + 3 * timeout
    try:
        with session.get(url, timeout=timeout, stream=True) as resp:
            if resp.status_code >= 500 or resp.status_code == 429:
                raise DownloadError(f"HTTP {resp.status_code}", transient=True)
            if resp.status_code != 200:
                raise DownloadError(f"HTTP {resp.status_code}")
            if "photo_unavailable" in resp.url:
                raise DownloadError("Flickr answered with its 'photo unavailable' placeholder", Status.BAD_IMAGE)
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not ctype.startswith("image/"):
                raise DownloadError(f"content type {ctype or 'missing'}, not an image", Status.BAD_IMAGE)
            length = resp.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise DownloadError(f"{int(length)} bytes exceeds the limit of {max_bytes}", Status.BAD_IMAGE)
            chunks, size = [], 0
            for chunk in resp.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise DownloadError(f"more than {max_bytes} bytes", Status.BAD_IMAGE)
                if time.monotonic() > deadline:
                    raise DownloadError(f"transfer took longer than {3 * timeout:g} s", transient=True)
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.exceptions.Timeout:
        raise DownloadError(f"timed out after {timeout:g} s", transient=True) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise DownloadError(f"connection error ({type(exc).__name__})", transient=True) from None
    except requests.exceptions.RequestException as exc:  # invalid URL, too many redirects, ...
        raise DownloadError(f"request failed ({type(exc).__name__})") from None


def download(session: requests.Session, url: str, timeout: float, max_bytes: int, retry: RetryPolicy,
             rng: random.Random | None = None, sleep: Callable[[float], None] = time.sleep,
             watch: NetworkWatch | None = None) -> bytes:
    """Return the body of ``url``, retrying transient failures with backoff; raise :class:`DownloadError`.

    Each try's outcome goes to ``watch`` (a transient error is a failure, any answer a success), and the waits
    between tries end at its no-progress deadline; the run's thread decides whether to give up.
    """
    def attempt() -> bytes:
        try:
            data = fetch_once(session, url, timeout, max_bytes)
        except DownloadError as exc:
            if watch is not None and exc.transient:
                watch.failed(url, str(exc))
            elif watch is not None:
                watch.succeeded()  # an HTTP 404 or a non-image is still an answer: the host is reachable
            raise
        if watch is not None:
            watch.succeeded()
        return data

    def wait(seconds: float) -> None:
        sleep(seconds if watch is None else min(seconds, watch.remaining()))

    try:
        return retry_call(attempt, lambda e: isinstance(e, DownloadError) and e.transient, retry, rng=rng,
                          sleep=wait)
    except GaveUp as exc:
        raise DownloadError(f"{exc.last} (gave up after {exc.tries} tries)") from None
