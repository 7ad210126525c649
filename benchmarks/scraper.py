"""Scraper throughput, memory and fault recovery against the local Flickr (no network needed).

``run(quick, out_dir)`` starts :mod:`scraper.fake_flickr` in a child process (so its memory and CPU are not
counted as ours) holding N small images (url_c 154x205) over four queries, 5 % of them faulty: half transient
(one HTTP 500/503 or a hanging answer, then the image) and half permanent (truncated JPEG, HTML, 404). It then
scrapes everything with 8 workers and reports, per N:

- ``images_per_s``: usable images per second of wall time (search + download + validation + manifest);
- ``peak_rss_mb``: peak resident memory of this process during the run minus before it (sampled every 20 ms);
- ``recoverable_share``: usable images / images without a permanent fault (target 1.0).

After a small warm-up run (lazy imports), two sizes (quick: 300 and 1,000; full: 500 and 2,000) show whether
memory stays flat as N grows (``rss_growth_ratio`` far below ``n_ratio``: no per-image buffering; what grows is
the manifest's rows, a few hundred bytes each). Writes ``scraper_memory.png`` into ``out_dir``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from matplotlib.figure import Figure

from foundation.figures import save_figure
from scraper.config import Credentials, ImageRules, RetryPolicy, ScrapeConfig, SplitConfig
from scraper.manifest import load_manifest
from scraper.scrape import scrape

FAULT_RATE = 0.05


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakRss:
    """Sample this process's resident memory in a thread; ``peak`` in MiB."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self.samples = every, _rss_mb(), []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.monotonic()

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = _rss_mb()
            self.peak = max(self.peak, rss)
            self.samples.append((time.monotonic() - self._t0, rss))
            time.sleep(self.every)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _one_run(n: int, work: Path) -> dict:
    server = subprocess.Popen([sys.executable, "-m", "scraper.fake_flickr", "--photos", str(n), "--fault-rate",
                               str(FAULT_RATE), "--hang-seconds", "1.0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())
        queries = work / "queries.toml"
        queries.write_text('[search]\nper_page = 100\nmin_upload_date = "2008-01-01"\n'
                           '[labels.painting]\nqueries = ["oil painting", "watercolor painting"]\n'
                           '[labels.photo]\nqueries = ["landscape", "portrait"]\n')
        out = work / f"data_{n}"
        config = ScrapeConfig(out=out, n=n, queries=queries, api_url=info["rest_url"], workers=8, api_timeout=5.0,
                              download_timeout=0.5, api_retry=RetryPolicy(4, 0.05, 0.2),
                              download_retry=RetryPolicy(3, 0.05, 0.2), calls_per_hour=10**7, burst=1000,
                              images=ImageRules(min_side=32, max_side=256), split=SplitConfig(balance=False),
                              max_upload_date=2_000_000_000, progress=False)
        base = _rss_mb()
        t0 = time.perf_counter()
        with _PeakRss() as mem:
            report = scrape(config, Credentials(info["api_key"], info["api_secret"]))
        seconds = time.perf_counter() - t0
        df = load_manifest(out)
        usable = int(df["status"].isin(["ok", "surplus"]).sum())
        recoverable = info["photos"] - info["permanent"]
        return {
            "n": n,
            "seconds": round(seconds, 2),
            "images_per_s": round(usable / seconds, 1),
            "usable": usable,
            "recoverable": recoverable,
            "recoverable_share": round(usable / recoverable, 4),
            "statuses": {k: int(v) for k, v in df["status"].value_counts().items()},
            "faults_injected": {"transient": info["transient"], "permanent": info["permanent"]},
            "api_calls": report["api_calls"],
            "peak_rss_mb": round(mem.peak - base, 1),
            "rss_trace": [(round(t, 2), round(r - base, 1)) for t, r in mem.samples[::max(1, len(mem.samples) // 200)]],
        }
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def run(quick: bool, out_dir: Path) -> dict:
    """Return throughput, peak memory and recovered share for two dataset sizes; saves a memory plot."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = (300, 1000) if quick else (500, 2000)
    work = Path(tempfile.mkdtemp(prefix="bench_scraper_"))
    try:
        _one_run(60, work)  # warm-up: lazy imports (PIL plugins, scikit-learn, flickrapi) would count as growth
        runs = [_one_run(n, work) for n in sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _plot(runs, out_dir / "scraper_memory.png")
    small, large = runs
    result = {
        "fault_rate": FAULT_RATE,
        "runs": [{k: v for k, v in r.items() if k != "rss_trace"} for r in runs],
        "images_per_s": large["images_per_s"],
        "recoverable_share": min(r["recoverable_share"] for r in runs),
        "peak_rss_mb": large["peak_rss_mb"],
        "rss_growth_ratio": round(large["peak_rss_mb"] / max(small["peak_rss_mb"], 1.0), 2),
        "n_ratio": round(large["n"] / small["n"], 2),
    }
    return result


def _plot(runs: list[dict], path: Path) -> None:
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for r in runs:
        t, m = zip(*r["rss_trace"], strict=True) if r["rss_trace"] else ((), ())
        ax.plot(t, m, label=f"N={r['n']} ({r['images_per_s']} img/s, {r['recoverable_share']:.1%} recovered)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("RSS above start (MiB)")
    ax.set_title("scraper memory over a run, 5 % faults")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv, Path("bench")), indent=2))
