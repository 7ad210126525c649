"""The local Flickr every scraper test talks to, and configs with short timeouts and fast backoff."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scraper.config import Credentials, ImageRules, RetryPolicy, ScrapeConfig
from scraper.fake_flickr import FakeFlickr

QUERIES = {"painting": ["oil painting", "watercolor painting"], "photo": ["landscape", "portrait"]}
#: Upload times of the fake's photos lie after this (2008-01-01), the query files' min_upload_date.
MIN_UPLOAD = 1199145600


@pytest.fixture
def fake():
    """A started fake Flickr on 127.0.0.1 with no photos; hanging answers last 0.6 s."""
    server = FakeFlickr(hang_seconds=0.6).start()
    yield server
    server.stop()


def write_queries(path: Path, queries: dict[str, list[str]] | None = None, per_page: int = 10) -> Path:
    """Write a query file for the fake and return its path."""
    queries = queries or QUERIES
    lines = ["[search]", f"per_page = {per_page}", 'min_upload_date = "2008-01-01"', ""]
    for label, qs in queries.items():
        lines += [f"[labels.{label}]", "queries = [" + ", ".join(f'"{q}"' for q in qs) + "]", ""]
    path.write_text("\n".join(lines))
    return path


def fast_config(out: Path, fake: FakeFlickr, queries: Path, **overrides) -> ScrapeConfig:
    """Return a ScrapeConfig for the fake: 0.3 s timeouts, 10 ms backoff, 32 px minimum side, no bars."""
    base = ScrapeConfig(out=out, n=1000, queries=queries, api_url=fake.rest_url, workers=4, api_timeout=0.3,
                        download_timeout=0.3, api_retry=RetryPolicy(max_tries=4, base_delay=0.01, max_delay=0.05),
                        download_retry=RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.05),
                        calls_per_hour=1_000_000, burst=1000, images=ImageRules(min_side=32, max_side=256),
                        max_upload_date=2_000_000_000, checkpoint_every=7, progress=False)
    return dataclasses.replace(base, **overrides)


def creds(fake: FakeFlickr) -> Credentials:
    return Credentials(fake.api_key, fake.api_secret)
