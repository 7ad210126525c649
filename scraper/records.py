"""The unit of work: a candidate image (from a Flickr answer or a local file) and the statuses it can end in."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.StrEnum):
    """Outcome of one candidate; only ``OK`` rows are images the classifier may use."""

    OK = "ok"
    FAILED_DOWNLOAD = "failed_download"  # network errors, HTTP errors, timeouts: retried once more on the next run
    BAD_IMAGE = "bad_image"              # not an image, truncated, wrong content type, too many bytes or pixels
    TOO_SMALL = "too_small"              # decodes, but the shorter side is under the minimum
    NO_URL = "no_url"                    # the search answer had none of the wanted url_* sizes
    DUPLICATE = "duplicate"              # same photo id under another query/label, or a near-identical image
    SURPLUS = "surplus"                  # valid, but left out to balance the classes (becomes ok if they grow)


#: Statuses a rerun tries again (once per run); every other status is final.
RETRIED = frozenset({Status.FAILED_DOWNLOAD})


@dataclass(frozen=True)
class Candidate:
    """One image to fetch and judge. ``url`` is an http(s) URL or, for imports, a ``file://`` URI."""

    id: str
    label: str
    query: str
    url: str
    owner: str = ""
    owner_name: str = ""
    license: str = ""
    page_url: str = ""


def flickr_page_url(owner: str, photo_id: str) -> str:
    """Return the public Flickr page of a photo, the attribution link of a CC licence."""
    return f"https://www.flickr.com/photos/{owner}/{photo_id}"
