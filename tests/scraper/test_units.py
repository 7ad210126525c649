"""Small pieces with known answers: pHash, token bucket, backoff, query file, photo parsing, image checks."""

from __future__ import annotations

import io
import random

import cv2
import numpy as np
import pytest
from PIL import Image

from foundation.errors import UserError
from scraper.config import DEFAULT_QUERIES, ImageRules, Label, RetryPolicy, load_queries
from scraper.fake_flickr import encode_jpeg, make_picture
from scraper.flickr import parse_photo
from scraper.phash import PhashIndex, hamming, phash
from scraper.ratelimit import TokenBucket
from scraper.records import Status
from scraper.retry import GaveUp, backoff_delay, retry_call
from scraper.validate import BadImage, normalize_image


# ---- pHash ---------------------------------------------------------------------------------------------------------
def test_phash_known_answers():
    # a flat image has only the DC coefficient above the (zero) median: the first bit alone is set
    assert phash(np.full((40, 50), 77, np.uint8)) == 1 << 63
    # a left-to-right falling ramp has positive odd horizontal frequencies only: bits 0, 1, 3, 5, 7 of row 0
    falling = np.tile((255 - np.arange(64) * 4).astype(np.uint8), (64, 1))
    assert phash(falling) == int("11010101" + "0" * 56, 2)


def test_phash_near_duplicate_close_and_different_pictures_far():
    a = make_picture(1, 240, 320)
    shrunk = cv2.convertScaleAbs(cv2.resize(a, (316, 236), interpolation=cv2.INTER_AREA), alpha=1.0, beta=4)
    reencoded = cv2.imdecode(np.frombuffer(encode_jpeg(shrunk, 70), np.uint8), cv2.IMREAD_COLOR)
    assert hamming(phash(a), phash(reencoded)) <= 4
    others = [hamming(phash(a), phash(make_picture(s, 240, 320))) for s in range(2, 10)]
    assert min(others) >= 16
    assert hamming(phash(a), phash(a[:, ::-1].copy())) >= 16  # a mirror image is a different picture


def test_phash_rejects_bad_input_and_index_finds_nearest():
    with pytest.raises(ValueError, match="uint8"):
        phash(np.zeros((8, 8), np.float32))
    index = PhashIndex()
    assert index.nearest(0, 6) is None
    for i in range(2000):  # grows past its initial capacity
        index.add((i * 0x9E3779B97F4A7C15) & (2**64 - 1), i)
    target = (1234 * 0x9E3779B97F4A7C15) & (2**64 - 1)
    assert index.nearest(target ^ 0b101, 6) == (1234, 2)
    assert index.nearest(target ^ 0xFF, 6) is None


# ---- politeness and retries ----------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_token_bucket_never_exceeds_hourly_quota():
    clock = FakeClock()
    bucket = TokenBucket.per_hour(3600, 100, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(8000):
        bucket.acquire()
        times.append(clock.now)
    times = np.array(times)
    assert (times[:100] == 0).all()  # the burst goes through at once
    # the most calls in any window of one hour (starting at each call) stays within the quota
    ends = np.searchsorted(times, times + 3600 - 1e-9, side="left")
    assert (ends - np.arange(len(times))).max() <= 3600
    assert times[-1] == pytest.approx((8000 - 100) / ((3600 - 100) / 3600), rel=1e-6)


def test_retry_call_retries_transient_and_gives_up():
    calls = []
    sleeps: list[float] = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    policy = RetryPolicy(max_tries=5, base_delay=1.0, max_delay=3.0)
    assert retry_call(flaky, lambda e: isinstance(e, ConnectionError), policy, sleep=sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    with pytest.raises(KeyError):  # not transient: no retry
        retry_call(lambda: {}["x"], lambda e: isinstance(e, ConnectionError), policy, sleep=sleeps.append)
    with pytest.raises(GaveUp) as info:
        retry_call(lambda: (_ for _ in ()).throw(ConnectionError("x")), lambda e: True,
                   RetryPolicy(max_tries=2, base_delay=0.0), sleep=lambda s: None)
    assert info.value.tries == 2
    rng = random.Random(0)
    delays = [backoff_delay(k, policy, rng) for k in range(6)]
    assert all(0.5 * min(3.0, 2**k) <= d <= min(3.0, 2**k) for k, d in enumerate(delays))


# ---- query file and answers ----------------------------------------------------------------------------------------
def test_bundled_query_file():
    qs = load_queries(DEFAULT_QUERIES)
    assert set(qs.queries) == {Label.PAINTING, Label.PHOTO}
    assert any(q.startswith("painting by ") for q in qs.queries[Label.PAINTING])
    assert {"street photography", "portrait", "landscape"} <= set(qs.queries[Label.PHOTO])
    assert set(qs.search.licenses) == {1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16}
    assert qs.search.content_type == 1 and qs.search.safe_search == 1 and qs.search.media == "photos"
    assert {"license", "owner_name", "tags", "url_m", "url_z", "url_c", "url_l", "o_dims"} <= set(qs.search.extras)
    assert qs.search.min_upload_date == 1104537600


@pytest.mark.parametrize("text, needle", [
    (None, "no such query file"),
    ("[labels.painting\n", "not valid TOML"),
    ("[labels.sculpture]\nqueries = ['x']\n", "unknown label 'sculpture'"),
    ("[labels.painting]\nqueries = []\n", "non-empty 'queries'"),
    ("[search]\nper_page = 900\n[labels.photo]\nqueries = ['x']\n", "per_page"),
    ("[search]\nmin_upload_date = 'soon'\n[labels.photo]\nqueries = ['x']\n", "not a YYYY-MM-DD"),
])
def test_query_file_errors_name_file_and_problem(tmp_path, text, needle):
    path = tmp_path / "q.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=needle) as info:
        load_queries(path)
    assert "q.toml" in str(info.value)


def test_parse_photo_prefers_larger_sizes_and_coerces_numbers():
    base = {"id": 42, "owner": "1@N00", "ownername": "A", "license": "4"}
    sizes = ("url_c", "url_z", "url_m")
    assert parse_photo({**base, "url_m": "http://x/m.jpg", "url_z": "http://x/z.jpg"}, "photo", "q", sizes).url \
        == "http://x/z.jpg"
    c = parse_photo({**base, "url_c": "http://x/c.jpg", "url_z": "http://x/z.jpg"}, "photo", "q", sizes)
    assert (c.url, c.id, c.license, c.page_url) == ("http://x/c.jpg", "42", "4",
                                                    "https://www.flickr.com/photos/1@N00/42")
    assert parse_photo({**base, "license": 9, "url_l": "http://x/l.jpg"}, "photo", "q", sizes).url == ""
    assert parse_photo({**base, "license": 9}, "photo", "q", sizes).license == "9"


# ---- image validation ----------------------------------------------------------------------------------------------
RULES = ImageRules(min_side=32, max_side=128)


def _png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def test_valid_image_is_converted_and_bounded():
    jpeg = encode_jpeg(make_picture(3, 150, 300))
    img = normalize_image(jpeg, RULES)
    assert (img.width, img.height) == (128, 64)
    decoded = Image.open(io.BytesIO(img.jpeg))
    assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (128, 64)
    assert normalize_image(jpeg, RULES).sha256 == img.sha256  # deterministic


def test_transparent_png_gets_white_background():
    rgba = np.zeros((40, 40, 4), np.uint8)  # fully transparent black
    img = normalize_image(_png(rgba, "RGBA"), RULES)
    pixels = np.asarray(Image.open(io.BytesIO(img.jpeg)))
    assert pixels.min() >= 250


@pytest.mark.parametrize("make, status, needle", [
    (lambda: b"", Status.BAD_IMAGE, "empty"),
    (lambda: b"<!DOCTYPE html><html>nope</html>", Status.BAD_IMAGE, "not an image"),
    (lambda: (lambda d: d[: len(d) * 2 // 3])(encode_jpeg(make_picture(1, 100, 100))), Status.BAD_IMAGE,
     "truncated"),
    (lambda: encode_jpeg(make_picture(1, 20, 100)), Status.TOO_SMALL, "smaller than 32"),
])
def test_bad_images_rejected(make, status, needle):
    with pytest.raises(BadImage, match=needle) as info:
        normalize_image(make(), RULES)
    assert info.value.status == status


def test_pixel_bomb_rejected_from_header():
    big = _png(np.zeros((300, 400), np.uint8), "L")
    with pytest.raises(BadImage, match="exceeds"):
        normalize_image(big, ImageRules(min_side=32, max_pixels=100_000))
