"""Paging ``flickr.photos.search`` by hand, cutting each query into upload-date windows under Flickr's cap.

Flickr answers at most 4,000 results per query (later pages repeat earlier ones), so a window whose ``total``
exceeds the cap is halved (``[lo, mid]`` and ``[mid + 1, hi]``, both bounds inclusive as Flickr treats them)
until every window fits, and each window is then paged to its end.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from scraper.config import SearchParams
from scraper.flickr import FlickrCallError, FlickrClient, parse_photo
from scraper.records import Candidate

#: Flickr returns no more than this many results for one set of search parameters.
RESULT_CAP = 4000


@dataclass
class QueryState:
    """Progress of one query across the run: calls made, results seen, windows split, and why it stopped."""

    label: str
    text: str
    calls: int = 0
    results: int = 0
    windows: int = 0
    error: str | None = None
    done: bool = False
    window_log: list[tuple[int, int, int]] = field(default_factory=list)  # (lo, hi, total) of searched windows


def search_args(params: SearchParams, text: str, lo: int, hi: int, page: int) -> dict:
    """Return the keyword arguments of one ``flickr.photos.search`` call (strings, as the form body sends them)."""
    return {
        "text": text,
        "license": ",".join(str(i) for i in params.licenses),
        "content_type": params.content_type,
        "media": params.media,
        "safe_search": params.safe_search,
        "sort": params.sort,
        "extras": ",".join(params.extras),
        "per_page": params.per_page,
        "page": page,
        "min_upload_date": lo,
        "max_upload_date": hi,
    }


def iter_query_pages(client: FlickrClient, state: QueryState, params: SearchParams, lo: int, hi: int,
                     cap: int = RESULT_CAP) -> Iterator[list[Candidate]]:
    """Yield one list of candidates per result page of ``state.text`` uploaded in ``[lo, hi]`` (epoch seconds).

    Newer windows come first. A failed call (after its retries) ends the query and is recorded in
    ``state.error``; :class:`scraper.flickr.FlickrKeyError` propagates and ends the run.
    """
    stack = [(lo, hi)]
    try:
        while stack:
            w_lo, w_hi = stack.pop()
            first = _call(client, state, params, w_lo, w_hi, 1)
            total = first["total"]
            if total > cap and w_hi > w_lo:
                mid = (w_lo + w_hi) // 2
                stack += [(w_lo, mid), (mid + 1, w_hi)]
                continue
            state.windows += 1
            state.window_log.append((w_lo, w_hi, total))
            yield _candidates(first, state, params)
            pages = min(first["pages"], math.ceil(min(total, cap) / params.per_page))
            for page in range(2, pages + 1):
                yield _candidates(_call(client, state, params, w_lo, w_hi, page), state, params)
    except FlickrCallError as exc:
        state.error = str(exc)
    state.done = True


def _call(client: FlickrClient, state: QueryState, params: SearchParams, lo: int, hi: int, page: int) -> dict:
    state.calls += 1
    return client.search(**search_args(params, state.text, lo, hi, page))


def _candidates(photos: dict, state: QueryState, params: SearchParams) -> list[Candidate]:
    out = []
    for photo in photos["photo"]:
        if isinstance(photo, dict) and "id" in photo:
            out.append(parse_photo(photo, state.label, state.text, params.sizes))
    state.results += len(out)
    return out


def iter_label_candidates(client: FlickrClient, states: list[QueryState], params: SearchParams, lo: int,
                          hi: int, cap: int = RESULT_CAP) -> Iterator[Candidate]:
    """Yield candidates of several queries of one label, one page of each query in turn (for variety)."""
    pages = [iter_query_pages(client, s, params, lo, hi, cap) for s in states]
    while pages:
        for gen in list(pages):
            batch = next(gen, None)
            if batch is None:
                pages.remove(gen)
                continue
            yield from batch
