"""``make bench``: run every benchmark module, write ``bench/results.json`` and ``bench/REPORT.md``.

Usage: ``python -m benchmarks.run --out bench/results.json [--mode quick|full] [--only vgg,flow]``.
A module that fails is recorded with its error; the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

from foundation.atomic import atomic_write, atomic_write_json
from foundation.runtime import quiet_tensorflow

#: Benchmark modules in the order they run (each ``benchmarks/<name>.py`` with ``run(quick, out_dir)``).
MODULES = ("vgg", "flow", "video", "fast", "scraper", "classifier", "finetuned")


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results.json")
    ap.add_argument("--mode", choices=["quick", "full"], default="full")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ",".join(MODULES))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out_dir = out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    selected = [m for m in MODULES if not args.only or m in args.only.split(",")]
    results: dict = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": _cpus()},
        "mode": args.mode,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "benchmarks": {},
    }
    previous = json.loads(out.read_text()) if out.exists() and args.only else {}
    results["benchmarks"].update(previous.get("benchmarks", {}))
    for name in selected:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.{name}":
                continue
            raise
        print(f"== bench {name} ({args.mode})", flush=True)
        t = time.perf_counter()
        try:
            value = module.run(args.mode == "quick", out_dir)
            results["benchmarks"][name] = {"seconds": time.perf_counter() - t, "result": value}
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not lose the others
            traceback.print_exc()
            results["benchmarks"][name] = {"seconds": time.perf_counter() - t, "error": f"{type(exc).__name__}: {exc}"}
        atomic_write_json(out, results)
    from benchmarks.report import render

    atomic_write(out_dir / "REPORT.md", lambda p: p.write_text(render(results)))
    print(f"wrote {out} and {out_dir / 'REPORT.md'}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
