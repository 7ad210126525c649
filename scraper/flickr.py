"""A thin ``flickrapi`` client: one ``flickr.photos.search`` page per call, classified errors, retries, quota.

Flickr reports errors as HTTP 200 with ``{"stat": "fail", "code": N, "message": ...}``; ``flickrapi`` turns them
(and HTTP errors) into ``FlickrError``. Here code 100 (bad key) becomes :class:`FlickrKeyError` and stops the run,
codes 105/201/10, HTTP 5xx/429, timeouts and unparsable answers are retried, everything else gives up the query.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any

import flickrapi
import requests
from flickrapi.exceptions import FlickrError

from foundation.errors import UserError
from scraper.config import Credentials, RetryPolicy
from scraper.health import MAX_FAILURES_IN_ROW, MAX_STALL_SECONDS, NetworkWatch, request_error_reason
from scraper.ratelimit import TokenBucket
from scraper.records import Candidate, flickr_page_url
from scraper.retry import GaveUp, retry_call

#: ``stat: fail`` codes worth retrying: 105 service unavailable, 201 (temporarily unavailable), 10 search down.
TRANSIENT_CODES = frozenset({105, 201, 10})
BAD_KEY_CODE = 100


class FlickrKeyError(UserError):
    """Flickr refused the API key (code 100): nothing else can work, so the whole run stops."""


class FlickrCallError(Exception):
    """A failed API call: ``code`` is Flickr's error code (None for HTTP/network/parse errors)."""

    def __init__(self, message: str, code: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.code, self.transient = code, transient


class FlickrClient:
    """Search Flickr through ``flickrapi`` (parsed JSON, no token file, no cache) at a configurable endpoint."""

    def __init__(self, credentials: Credentials, api_url: str, timeout: float, user_agent: str,
                 bucket: TokenBucket, retry: RetryPolicy, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep, watch: NetworkWatch | None = None) -> None:
        # flickrapi logs whole error bodies at ERROR level, which would print through tqdm bars
        logging.getLogger("flickrapi").setLevel(logging.CRITICAL)
        # cache=False: flickrapi's cache would replay a `stat: fail` answer on every retry
        self._api = flickrapi.FlickrAPI(credentials.key, credentials.secret, format="parsed-json",
                                        store_token=False, cache=False, timeout=timeout)
        self._api.REST_URL = api_url
        # the library's requests.Session is a class attribute shared by every instance: give ours its own
        session = requests.Session()
        session.headers["User-Agent"] = user_agent
        self._api.flickr_oauth.session = session
        self._secrets = (credentials.key, credentials.secret)
        self._bucket, self._retry = bucket, retry
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._api_url = api_url
        # one per run, shared with the downloads; a private one keeps a lone client's own calls bounded
        self._watch = watch or NetworkWatch(MAX_FAILURES_IN_ROW, MAX_STALL_SECONDS)
        self.calls = 0
        self.retries = 0

    def __repr__(self) -> str:
        return "FlickrClient(key=***)"

    def search(self, **params: Any) -> dict:
        """Return the ``photos`` object of one ``flickr.photos.search`` answer, numbers coerced to ``int``.

        Raises:
            FlickrKeyError: code 100, the key is invalid.
            FlickrCallError: a permanent error, or the retries ran out (``transient`` tells which).
            NetworkDown: the run's bound on failures in a row or on time without progress was crossed.
        """
        def call() -> dict:
            self._watch.check()
            self._bucket.acquire()
            self.calls += 1
            try:
                photos = self._call_once(params)
            except FlickrCallError as exc:
                if not exc.transient:
                    self._watch.succeeded()  # a permanent error is still an answer: the API is reachable
                    raise
                self._watch.failed(self._api_url, str(exc))
                raise
            except FlickrKeyError:
                self._watch.succeeded()
                raise
            self._watch.succeeded()
            return photos

        def count_retry(_exc: BaseException) -> None:
            self.retries += 1

        try:
            return retry_call(call, lambda e: isinstance(e, FlickrCallError) and e.transient, self._retry,
                              rng=self._rng, sleep=lambda s: self._watch.sleep(s, self._sleep),
                              on_retry=count_retry)
        except GaveUp as exc:
            raise FlickrCallError(f"{exc.last} (gave up after {exc.tries} tries)", getattr(exc.last, "code", None),
                                  transient=True) from None

    def _call_once(self, params: dict) -> dict:
        try:
            answer = self._api.photos.search(**params)
        except FlickrError as exc:
            raise self._classify(exc) from None
        except requests.exceptions.RequestException as exc:
            raise FlickrCallError(self._scrub(f"network error: {request_error_reason(exc)}"), transient=True) from None
        except (ValueError, AttributeError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise FlickrCallError(f"unparsable answer: {type(exc).__name__}", transient=True) from None
        try:
            photos = answer["photos"]
            photos["page"], photos["pages"] = int(photos["page"]), int(photos["pages"])
            photos["total"] = int(photos["total"])
            if not isinstance(photos.get("photo", []), list):
                raise TypeError("photo is not a list")
            photos.setdefault("photo", [])
        except (KeyError, TypeError, ValueError) as exc:
            raise FlickrCallError(f"unexpected answer shape ({exc})", transient=True) from None
        return photos

    def _classify(self, exc: Exception) -> Exception:
        code = getattr(exc, "code", None)
        message = self._scrub(str(exc))
        if code == BAD_KEY_CODE:
            return FlickrKeyError(f"Flickr refused the API key ({message}); check FLICKR_API_KEY and FLICKR_API_SECRET")
        if code is not None:
            return FlickrCallError(f"Flickr {message}", code, transient=code in TRANSIENT_CODES)
        http = re.search(r"Status code (\d+)", message)
        status = int(http.group(1)) if http else 0
        return FlickrCallError(f"HTTP {status or '?'} from the API", None, transient=status >= 500 or status == 429)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def parse_photo(photo: dict, label: str, query: str, sizes: tuple[str, ...]) -> Candidate:
    """Return the :class:`Candidate` of one search result; ``url`` is the first of ``sizes`` present (or "")."""
    photo_id, owner = str(photo["id"]), str(photo.get("owner", ""))
    url = ""
    for size in sizes:
        value = photo.get(size)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            url = value
            break
    license_id = photo.get("license", "")
    try:
        license_id = str(int(license_id))
    except (TypeError, ValueError):
        license_id = str(license_id)
    return Candidate(id=photo_id, label=label, query=query, url=url, owner=owner,
                     owner_name=str(photo.get("ownername", "")), license=license_id,
                     page_url=flickr_page_url(owner, photo_id) if owner else "")
