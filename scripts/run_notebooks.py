"""``make notebooks``: execute each notebook whose inputs exist into OUT, skip the others with one line each.

A notebook without inputs (no video run yet, no scraped dataset, no evaluated classifier) is skipped with a
line saying what to run first. Exit 0 when at least one notebook ran (and none failed), 2 when none could run,
1 when one failed to execute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Notebook:
    """One notebook, the environment it reads its inputs from, and why it cannot run yet (None: it can)."""

    name: str
    env: dict[str, str]
    missing: str | None


def video_runs(runs: str, runs_dir: Path) -> bool:
    """Return True if RUNS names something or ``runs_dir`` holds a ``*.work`` folder with results."""
    if runs.strip():
        return True
    for d in runs_dir.glob("*.work"):
        if d.is_dir() and ((d / "run.json").is_file() or (d / "evaluation.json").is_file()
                           or d.with_suffix(".evaluation.json").is_file() or any((d / "stylized").glob("*.png"))):
            return True
    return False


def plan(runs: str, runs_dir: Path, manifest: Path, eval_dir: Path) -> list[Notebook]:
    """Return the notebooks in order, each with its environment and what is missing."""
    return [
        Notebook("evaluate_video.ipynb", {"PAINTVID_VIDEO_RUNS": runs, "PAINTVID_RUNS_DIR": str(runs_dir)},
                 None if video_runs(runs, runs_dir) else
                 f"no video runs in {runs_dir} (run `make demo` or `paintvid video` first)"),
        Notebook("dataset.ipynb", {"PAINTVID_MANIFEST": str(manifest)},
                 None if manifest.is_file() else
                 f"no manifest at {manifest} (run `make scrape` or `paintvid dataset import` first)"),
        Notebook("evaluate_classifier.ipynb", {"PAINTVID_EVAL_DIR": str(eval_dir)},
                 None if (eval_dir / "metrics.json").is_file() and (eval_dir / "predictions.csv").is_file() else
                 f"no classifier evaluation in {eval_dir} (run `make finetune` then `make evaluate` first)"),
    ]


def execute(notebook: Notebook, out: Path, jupyter: str) -> bool:
    """Copy the notebook into ``out`` and execute it in place; return True if it ran to the end."""
    target = out / notebook.name
    shutil.copyfile(REPO / "notebooks" / notebook.name, target)
    env = {**os.environ, **notebook.env}
    return subprocess.run([jupyter, "execute", "--inplace", str(target)], env=env).returncode == 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="out/notebooks", help="where the executed notebooks go")
    p.add_argument("--runs", default="", help="NAME=PATH,... of video runs (default: every run in --runs-dir)")
    p.add_argument("--runs-dir", default="out", help="folder of video runs (*.work)")
    p.add_argument("--manifest", default="data/flickr/manifest.csv", help="dataset manifest for dataset.ipynb")
    p.add_argument("--eval-dir", default="models/eval", help="`paintvid evaluate` output for evaluate_classifier")
    p.add_argument("--jupyter", default=str(Path(sys.executable).with_name("jupyter")))
    args = p.parse_args(argv)
    out = Path(args.out)
    notebooks = plan(args.runs, Path(args.runs_dir).resolve(), Path(args.manifest).resolve(),
                     Path(args.eval_dir).resolve())
    ran, failed = [], []
    for nb in notebooks:
        if nb.missing:
            print(f"notebooks: skip {nb.name}: {nb.missing}", file=sys.stderr)
            continue
        out.mkdir(parents=True, exist_ok=True)
        print(f"notebooks: run {nb.name} -> {out / nb.name}", file=sys.stderr)
        (ran if execute(nb, out, args.jupyter) else failed).append(nb.name)
    if failed:
        print(f"notebooks: {', '.join(failed)} failed (see the error above)", file=sys.stderr)
        return 1
    if not ran:
        print("notebooks: nothing to run yet (see the lines above)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
