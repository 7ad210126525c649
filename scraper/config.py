"""Frozen configs of the scraper and the query file (TOML) that names the Flickr searches per label."""

from __future__ import annotations

import datetime as dt
import enum
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from foundation.errors import UserError
from scraper.health import MAX_FAILURES_IN_ROW, MAX_STALL_SECONDS

#: Flickr's own REST endpoint; ``--api-url`` or ``FLICKR_API_URL`` point the scraper elsewhere (a mirror, a test).
FLICKR_REST_URL = "https://api.flickr.com/services/rest/"
#: The query file shipped with the package.
DEFAULT_QUERIES = Path(__file__).with_name("queries.toml")
USER_AGENT = "paint-your-video-scraper/0.1 (painting-vs-photo dataset; +https://github.com/paint-your-video)"


class Label(enum.StrEnum):
    """The two classes of the dataset (the manifest's ``label`` column)."""

    PAINTING = "painting"
    PHOTO = "photo"


@dataclass(frozen=True)
class SearchParams:
    """Fixed parameters of every ``flickr.photos.search`` call (from the ``[search]`` table of the query file)."""

    licenses: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16)
    content_type: int = 1
    media: str = "photos"
    safe_search: int = 1
    sort: str = "relevance"
    per_page: int = 500
    extras: tuple[str, ...] = ("license", "owner_name", "tags", "url_m", "url_z", "url_c", "url_l", "o_dims")
    sizes: tuple[str, ...] = ("url_c", "url_z", "url_m")
    min_upload_date: int = 1104537600  # 2005-01-01 UTC, seconds

    def __post_init__(self) -> None:
        if not 1 <= self.per_page <= 500:
            raise ValueError(f"per_page must be in 1..500 (Flickr's range), got {self.per_page}")
        if not self.sizes:
            raise ValueError("sizes must name at least one url_* extra")
        missing = [s for s in self.sizes if s not in self.extras]
        if missing:
            raise ValueError(f"sizes {missing} are not requested in extras")


@dataclass(frozen=True)
class QuerySet:
    """Searches per label: ``{Label.PAINTING: ("oil painting", ...), Label.PHOTO: (...)}`` plus search params."""

    queries: dict[Label, tuple[str, ...]]
    search: SearchParams = field(default_factory=SearchParams)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter: wait ``min(max_delay, base_delay * 2**k) * U(0.5, 1)``."""

    max_tries: int = 6
    base_delay: float = 2.0
    max_delay: float = 120.0

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {self.max_tries}")


@dataclass(frozen=True)
class ImageRules:
    """What a downloaded or imported file must be to count as ``ok``, and how it is stored."""

    max_bytes: int = 20_000_000       # larger answers are cut off and rejected
    min_side: int = 200               # shorter side in pixels, after decoding
    max_side: int = 1024              # stored JPEGs are downscaled to this longest side
    jpeg_quality: int = 90
    max_pixels: int = 100_000_000     # refuse decompression bombs from the header alone
    phash_distance: int = 6           # Hamming distance (of 64 bits) at or below which two images are one


@dataclass(frozen=True)
class SplitConfig:
    """Stratified train/val/test fractions, the seed, and whether the larger class is cut to the smaller one."""

    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    balance: bool = True

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-6:
            raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {self.fractions}")


@dataclass(frozen=True)
class ScrapeConfig:
    """Everything ``scrape`` needs except the credentials (kept apart so that no report can ever hold them)."""

    out: Path
    n: int = 20000
    queries: Path = DEFAULT_QUERIES
    api_url: str = FLICKR_REST_URL
    workers: int = 8
    api_timeout: float = 30.0
    download_timeout: float = 30.0
    api_retry: RetryPolicy = field(default_factory=RetryPolicy)
    download_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_tries=3, base_delay=1.0))
    calls_per_hour: int = 3600
    burst: int = 100
    images: ImageRules = field(default_factory=ImageRules)
    split: SplitConfig = field(default_factory=SplitConfig)
    max_upload_date: int | None = None  # None: the run's start time
    user_agent: str = USER_AGENT
    checkpoint_every: int = 200       # rows between full rewrites of manifest.csv (a journal covers the rest)
    progress: bool = True
    # the whole run gives up (UserError naming the URL and the last error, manifest kept) after this many network
    # failures in a row (each retry counts), or this many seconds without an API answer or a downloaded image
    max_consecutive_failures: int = MAX_FAILURES_IN_ROW
    max_stall_seconds: float = MAX_STALL_SECONDS

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if not 1 <= self.workers <= 64:
            raise ValueError(f"workers must be in 1..64, got {self.workers}")
        if self.max_consecutive_failures < 1 or not self.max_stall_seconds > 0:
            raise ValueError("max_consecutive_failures must be >= 1 and max_stall_seconds > 0")
        if self.burst >= self.calls_per_hour:
            raise ValueError("burst must be smaller than calls_per_hour")


@dataclass(frozen=True)
class ImportConfig:
    """``paintvid dataset import``: add the images of a local folder to a manifest under one label."""

    source: Path
    label: Label
    out: Path
    workers: int = 4
    images: ImageRules = field(default_factory=ImageRules)
    split: SplitConfig = field(default_factory=SplitConfig)
    progress: bool = True


@dataclass(frozen=True)
class Credentials:
    """A Flickr API key and secret; ``repr`` never shows them."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return "Credentials(key=***, secret=***)"

    __str__ = __repr__

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Credentials:
        """Return the credentials from ``FLICKR_API_KEY``/``FLICKR_API_SECRET``; raise UserError naming what to set."""
        env = os.environ if environ is None else environ
        key, secret = env.get("FLICKR_API_KEY", "").strip(), env.get("FLICKR_API_SECRET", "").strip()
        if not key or not secret:
            raise UserError("set FLICKR_API_KEY and FLICKR_API_SECRET (get a key at "
                            "https://www.flickr.com/services/apps/create/)")
        return cls(key, secret)


def load_queries(path: str | os.PathLike = DEFAULT_QUERIES) -> QuerySet:
    """Return the :class:`QuerySet` of a TOML query file; raise UserError naming the file and the problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such query file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise UserError(f"{path}: needs [labels.painting] and [labels.photo] tables with a 'queries' list")
    queries: dict[Label, tuple[str, ...]] = {}
    for name, table in labels.items():
        try:
            label = Label(name)
        except ValueError:
            raise UserError(f"{path}: unknown label {name!r} (use painting or photo)") from None
        qs = table.get("queries") if isinstance(table, dict) else None
        if not isinstance(qs, list) or not qs or not all(isinstance(q, str) and q.strip() for q in qs):
            raise UserError(f"{path}: [labels.{name}] needs a non-empty 'queries' list of strings")
        queries[label] = tuple(dict.fromkeys(q.strip() for q in qs))
    search = data.get("search", {})
    kwargs = {}
    for key in ("content_type", "media", "safe_search", "sort", "per_page"):
        if key in search:
            kwargs[key] = search[key]
    for key in ("licenses", "extras", "sizes"):
        if key in search:
            kwargs[key] = tuple(search[key])
    if "min_upload_date" in search:
        kwargs["min_upload_date"] = _to_epoch(search["min_upload_date"], path)
    try:
        params = SearchParams(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: bad [search] table ({exc})") from None
    return QuerySet(queries=queries, search=params)


def _to_epoch(value: object, path: Path) -> int:
    """Return seconds since 1970 (UTC) for a TOML date, an ISO date string or an integer."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise UserError(f"{path}: min_upload_date {value!r} is not a YYYY-MM-DD date") from None
    if isinstance(value, dt.datetime):
        return int(value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp())
    raise UserError(f"{path}: min_upload_date must be a date, got {value!r}")
