"""Downloads from the local Flickr's image host: retries, timeouts, status codes, content types, byte limits."""

from __future__ import annotations

import pytest

from scraper.config import RetryPolicy
from scraper.download import DownloadError, download, make_session
from scraper.records import Status

RETRY = RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def session():
    s = make_session("pyv-test-agent/1", 4)
    yield s
    s.close()


def _url(fake, photo_id, size="m"):
    return f"{fake.url}/img/{photo_id}_{size}.jpg"


def test_ok_and_transient_errors_recovered(fake, session):
    fake.add_photos("q", 4, 1)
    fake.fault_image(2, "500", "ok")
    fake.fault_image(3, "503", "hang", "ok")
    for pid in (1, 2, 3):
        assert download(session, _url(fake, pid), 0.3, 1 << 20, RETRY)[:2] == b"\xff\xd8"
    assert fake.image_requests["1"] == 1 and fake.image_requests["2"] == 2 and fake.image_requests["3"] == 3
    assert fake.user_agents == {"pyv-test-agent/1"}


@pytest.mark.parametrize("faults, status, needle, requests", [
    (["404"], Status.FAILED_DOWNLOAD, "HTTP 404", 1),
    (["500"], Status.FAILED_DOWNLOAD, "gave up after 3 tries", 3),
    (["hang"], Status.FAILED_DOWNLOAD, "timed out", 3),
    (["html"], Status.BAD_IMAGE, "content type text/html", 1),
    (["huge"], Status.BAD_IMAGE, "exceeds the limit", 1),
])
def test_failures_classified(fake, session, faults, status, needle, requests):
    fake.add_photos("q", 1, 7)
    fake.fault_image(7, *faults)
    with pytest.raises(DownloadError, match=needle) as info:
        download(session, _url(fake, 7), 0.3, 1 << 20, RETRY)
    assert info.value.status == status
    assert fake.image_requests["7"] == requests


def test_byte_limit_smaller_than_the_image(fake, session):
    fake.add_photos("q", 1, 8, base=(200, 300))
    with pytest.raises(DownloadError, match="exceeds the limit of 1000"):
        download(session, _url(fake, 8), 0.3, 1000, RETRY)
