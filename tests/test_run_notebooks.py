"""``make notebooks`` (scripts/run_notebooks.py): runs the notebooks that have inputs, skips the others with one
line saying what to run first, exit 0 when one ran. A stand-in ``jupyter`` records what it was asked to run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "run_notebooks.py"


@pytest.fixture
def fake_jupyter(tmp_path):
    """An executable that logs (argv, PAINTVID_* env) as one JSON line per call and exits with $FAKE_RC."""
    log = tmp_path / "calls.jsonl"
    exe = tmp_path / "jupyter"
    exe.write_text(f"#!{sys.executable}\n"
                   "import json, os, sys\n"
                   f"with open({str(log)!r}, 'a') as f:\n"
                   "    env = {k: v for k, v in os.environ.items() if k.startswith('PAINTVID_')}\n"
                   "    f.write(json.dumps([sys.argv[1:], env]) + '\\n')\n"
                   "sys.exit(int(os.environ.get('FAKE_RC', '0')))\n")
    exe.chmod(0o755)
    return exe, log


def run(tmp_path, jupyter, rc: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "nb"), "--runs-dir",
                           str(tmp_path / "out"), "--manifest", str(tmp_path / "data" / "manifest.csv"),
                           "--eval-dir", str(tmp_path / "models" / "eval"), "--jupyter", str(jupyter)],
                          capture_output=True, text=True, env={"FAKE_RC": str(rc), "PATH": "/usr/bin:/bin"})


def calls(log: Path) -> list:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_after_make_demo_runs_the_video_notebook_and_skips_the_rest(tmp_path, fake_jupyter):
    exe, log = fake_jupyter
    work = tmp_path / "out" / "vtest_stylized.work"
    work.mkdir(parents=True)
    (work / "run.json").write_text("{}")
    proc = run(tmp_path, exe)
    assert proc.returncode == 0, proc.stderr
    skips = [line for line in proc.stderr.splitlines() if "skip" in line]
    assert skips == [
        f"notebooks: skip dataset.ipynb: no manifest at {tmp_path / 'data' / 'manifest.csv'} "
        "(run `make scrape` or `paintvid dataset import` first)",
        f"notebooks: skip evaluate_classifier.ipynb: no classifier evaluation in {tmp_path / 'models' / 'eval'} "
        "(run `make finetune` then `make evaluate` first)",
    ]
    (argv, env), = calls(log)
    assert argv == ["execute", "--inplace", str(tmp_path / "nb" / "evaluate_video.ipynb")]
    assert env["PAINTVID_RUNS_DIR"] == str(tmp_path / "out")
    assert (tmp_path / "nb" / "evaluate_video.ipynb").read_bytes() == (
        REPO / "notebooks" / "evaluate_video.ipynb").read_bytes()


def test_every_notebook_with_inputs_runs(tmp_path, fake_jupyter):
    exe, log = fake_jupyter
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").write_text("id\n")
    (tmp_path / "models" / "eval").mkdir(parents=True)
    for name in ("metrics.json", "predictions.csv"):
        (tmp_path / "models" / "eval" / name).write_text("{}")
    proc = run(tmp_path, exe)
    assert proc.returncode == 0
    ran = [Path(argv[-1]).name for argv, _ in calls(log)]
    assert ran == ["dataset.ipynb", "evaluate_classifier.ipynb"]
    assert "skip evaluate_video.ipynb: no video runs" in proc.stderr and "make demo" in proc.stderr


def test_nothing_to_run_exits_2_and_a_failing_notebook_exits_1(tmp_path, fake_jupyter):
    exe, log = fake_jupyter
    proc = run(tmp_path, exe)
    assert proc.returncode == 2 and proc.stderr.count("skip") == 3 and calls(log) == []
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").write_text("id\n")
    proc = run(tmp_path, exe, rc=1)
    assert proc.returncode == 1 and "dataset.ipynb failed" in proc.stderr
