"""Search against the local Flickr: OAuth POSTs, date windows past the 4,000 cap, drift, errors and retries."""

from __future__ import annotations

import pytest

from scraper.config import RetryPolicy, SearchParams
from scraper.flickr import FlickrCallError, FlickrClient, FlickrKeyError
from scraper.ratelimit import TokenBucket
from scraper.search import QueryState, iter_label_candidates, iter_query_pages, search_args
from tests.scraper.conftest import creds

PARAMS = SearchParams(per_page=500, min_upload_date=1_000_000_000)
LO, HI = 1_000_000_000, 2_000_000_000


def client_for(fake, key=None, tries=4, timeout=0.3) -> FlickrClient:
    c = creds(fake) if key is None else type(creds(fake))(key, fake.api_secret)
    return FlickrClient(c, fake.rest_url, timeout, "pyv-test-agent/1", TokenBucket(1000, 1000.0),
                        RetryPolicy(max_tries=tries, base_delay=0.01, max_delay=0.02))


def test_requests_are_signed_posts_without_api_key_and_numbers_are_ints(fake):
    fake.add_photos("oil painting", 25, 100)
    client = client_for(fake)
    for _ in range(4):  # the fake sends numbers as strings or ints at random
        photos = client.search(**search_args(SearchParams(per_page=10), "oil painting", LO, HI, 3))
        assert (photos["page"], photos["pages"], photos["total"]) == (3, 3, 25)
        assert len(photos["photo"]) == 5
    call = fake.api_calls[-1]
    assert "api_key" not in call and call["method"] == "flickr.photos.search" and call["format"] == "json"
    assert call["license"] == "1,2,3,4,5,6,9,10,11,12,13,14,15,16" and call["content_type"] == "1"
    assert call["safe_search"] == "1" and call["media"] == "photos" and "url_c" in call["extras"]
    assert fake.signature_failures == 0 and fake.user_agents == {"pyv-test-agent/1"}


def test_date_windows_reach_past_the_4000_cap(fake):
    fake.add_photos("landscape", 9000, 1_000_000, upload_from=1_300_000_000, upload_step=600)
    client = client_for(fake)
    # one window pages into repeats: page 9 of 500 answers page 8 again, as Flickr does
    p8 = client.search(**search_args(PARAMS, "landscape", LO, HI, 8))["photo"]
    p9 = client.search(**search_args(PARAMS, "landscape", LO, HI, 9))["photo"]
    assert [p["id"] for p in p8] == [p["id"] for p in p9]

    state = QueryState("photo", "landscape")
    ids = [c.id for page in iter_query_pages(client, state, PARAMS, LO, HI) for c in page]
    assert len(ids) == len(set(ids)) == 9000
    assert state.error is None and state.windows >= 3
    assert all(total <= 4000 for _, _, total in state.window_log)
    # the windows tile the range without overlap
    spans = sorted((lo, hi) for lo, hi, _ in state.window_log)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_missing_sizes_give_empty_url_and_labels_interleave(fake):
    fake.add_photos("oil painting", 3, 10, sizes=("url_m",))
    fake.add_photos("watercolor painting", 3, 20, sizes=())
    client = client_for(fake)
    states = [QueryState("painting", "oil painting"), QueryState("painting", "watercolor painting")]
    got = list(iter_label_candidates(client, states, SearchParams(per_page=2), LO, HI))
    assert [c.id for c in got] == ["10", "11", "20", "21", "12", "22"]  # one page of each query in turn
    assert all(c.url.endswith("_m.jpg") for c in got[:2]) and all(c.url == "" for c in got if c.id[0] == "2")


@pytest.mark.parametrize("faults", [["fail105"], ["fail201", "fail10"], ["500", "503"], ["hang"], ["badjson"]])
def test_transient_failures_are_retried(fake, faults):
    fake.add_photos("portrait", 4, 50)
    fake.api_faults.extend(faults)
    client = client_for(fake)
    photos = client.search(**search_args(SearchParams(), "portrait", LO, HI, 1))
    assert photos["total"] == 4 and client.retries == len(faults) and client.calls == len(faults) + 1


def test_bounded_tries_then_query_recorded_and_others_continue(fake):
    fake.add_photos("portrait", 4, 50)
    fake.add_photos("landscape", 3, 60)
    fake.api_faults.extend(["503"] * 3)
    client = client_for(fake, tries=3)
    states = [QueryState("photo", "portrait"), QueryState("photo", "landscape")]
    got = list(iter_label_candidates(client, states, SearchParams(), LO, HI))
    assert [c.id for c in got] == ["60", "61", "62"]
    assert "HTTP 503" in states[0].error and "gave up after 3 tries" in states[0].error
    assert states[1].error is None


def test_permanent_error_is_not_retried(fake):
    fake.api_faults.append("fail3")
    client = client_for(fake)
    with pytest.raises(FlickrCallError, match="Parameterless") as info:
        client.search(**search_args(SearchParams(), "portrait", LO, HI, 1))
    assert info.value.code == 3 and not info.value.transient and client.calls == 1


def test_bad_key_stops_with_one_line_without_the_key(fake):
    client = client_for(fake, key="not-the-key-123")
    with pytest.raises(FlickrKeyError) as info:
        client.search(**search_args(SearchParams(), "portrait", LO, HI, 1))
    msg = str(info.value)
    assert "100" in msg and "FLICKR_API_KEY" in msg and "\n" not in msg and "not-the-key-123" not in msg
    assert client.calls == 1
