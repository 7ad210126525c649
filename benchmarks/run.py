"""``make bench``: run every benchmark module, write ``bench/results.json`` and ``bench/REPORT.md``.

Usage: ``python -m benchmarks.run --out bench/results.json [--mode quick|full] [--only vgg,flow]``.
A module that fails is recorded with its error; the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from benchmarks.report import render
from foundation.atomic import atomic_write, atomic_write_json
from foundation.runtime import quiet_tensorflow

#: Benchmark modules in the order they run (each ``benchmarks/<name>.py`` with ``run(quick, out_dir)``).
MODULES = ("vgg", "flow", "video", "fast", "arbitrary", "engines", "hd", "panel", "keyframes", "scraper", "classifier",
           "head_solver", "trunk_floor", "finetuned", "scaleout")


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
        entry = _run_one(name, args.mode, out_dir)
        if entry is not None:
            results["benchmarks"][name] = entry
            atomic_write_json(out, results)

    atomic_write(out_dir / "REPORT.md", lambda p: p.write_text(render(results)))
    print(f"wrote {out} and {out_dir / 'REPORT.md'}")
    return 0


def _run_one(name: str, mode: str, out_dir: Path) -> dict | None:
    """Import and run ``benchmarks.<name>``; return ``{"seconds", "mode", "result"}`` or ``{"seconds", "mode",
    "error"}`` (an import failure is recorded like a run failure), or None when there is no such module. ``mode``
    is per entry because ``--only`` merges a run into an earlier file that may have another mode."""
    if importlib.util.find_spec(f"benchmarks.{name}") is None:
        return None
    print(f"== bench {name} ({mode})", flush=True)
    t = time.perf_counter()
    try:
        value = importlib.import_module(f"benchmarks.{name}").run(mode == "quick", out_dir)
        return {"seconds": time.perf_counter() - t, "mode": mode, "result": value}
    except Exception as exc:  # noqa: BLE001 - one failing benchmark must not lose the others
        traceback.print_exc()
        return {"seconds": time.perf_counter() - t, "mode": mode, "error": f"{type(exc).__name__}: {exc}"}


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
