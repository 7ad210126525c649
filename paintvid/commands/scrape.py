"""``paintvid scrape --out DIR -n N``: build the painting-vs-photo dataset from Flickr (resumable).

The API key and secret come from FLICKR_API_KEY and FLICKR_API_SECRET only (never an option, never logged).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from foundation.errors import UserError, check_input_file
from foundation.paths import check_output_dir
from paintvid.commands.common import check_range


def register(sub) -> None:
    p = sub.add_parser("scrape", help="collect labelled paintings and photos from Flickr", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="dataset folder: manifest.csv and images/{painting,photo}/")
    p.add_argument("-n", type=int, default=20000, help="number of images wanted, split evenly by label")
    p.add_argument("--api-url", default=None,
                   help="Flickr REST endpoint (default: $FLICKR_API_URL or https://api.flickr.com/services/rest/)")
    p.add_argument("--queries", default=None, help="TOML query file (default: the one shipped in scraper/)")
    p.add_argument("--workers", type=int, default=8, help="parallel downloads")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per API call and per download read")
    p.add_argument("--min-side", type=int, default=200, help="reject images whose shorter side is smaller")
    p.add_argument("--max-side", type=int, default=1024, help="store images downscaled to this longest side")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--no-balance", action="store_true", help="keep every image instead of equal counts per label")
    # the defaults are scraper.health's (not imported here: listing the subcommands stays light)
    p.add_argument("--max-failures", type=int, default=10,
                   help="give up after this many failed network requests in a row (each retry counts)")
    p.add_argument("--stall-timeout", type=float, default=60.0,
                   help="give up after this many seconds of failed requests without an API answer or an image")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from scraper.config import (
        DEFAULT_QUERIES,
        FLICKR_REST_URL,
        Credentials,
        ImageRules,
        RetryPolicy,
        ScrapeConfig,
        SplitConfig,
    )
    from scraper.scrape import scrape

    credentials = Credentials.from_env()
    if args.n < 1:
        raise UserError(f"-n {args.n}: need at least one image")
    if not 1 <= args.workers <= 64:
        raise UserError(f"--workers {args.workers}: choose 1 to 64")
    if args.timeout <= 0:
        raise UserError(f"--timeout {args.timeout}: must be positive")
    if args.min_side < 1 or args.max_side < args.min_side:
        raise UserError(f"--min-side {args.min_side} / --max-side {args.max_side}: need 1 <= min-side <= max-side")
    check_range("--max-failures", args.max_failures, 1, 1_000_000)
    check_range("--stall-timeout", args.stall_timeout, 0.1, 7 * 24 * 3600)
    if args.queries:
        check_input_file(args.queries, "a TOML query file")
    check_output_dir(args.out, what="dataset folder")
    config = ScrapeConfig(
        out=Path(args.out),
        n=args.n,
        queries=Path(args.queries) if args.queries else DEFAULT_QUERIES,
        api_url=args.api_url or os.environ.get("FLICKR_API_URL") or FLICKR_REST_URL,
        workers=args.workers,
        api_timeout=args.timeout,
        download_timeout=args.timeout,
        api_retry=RetryPolicy(),
        images=ImageRules(min_side=args.min_side, max_side=args.max_side),
        split=SplitConfig(seed=args.seed, balance=not args.no_balance),
        progress=not args.quiet,
        max_consecutive_failures=args.max_failures,
        max_stall_seconds=args.stall_timeout,
    )
    report = scrape(config, credentials)
    print(report["summary"])
    print(f"{config.out / 'manifest.csv'}\t{report['api_calls']} API calls\t{report['seconds']:.0f}s")
