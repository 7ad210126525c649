"""The floor plan is enforced: import-linter's contracts hold, and an uphill import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["foundation", "media", "transfer", "video", "scraper", "classifier", "studio", "paintvid", "benchmarks"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )


def _copy_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copy(ROOT / "pyproject.toml", tree)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def test_contracts_hold_on_the_tree():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("media/flo.py", "import video.config  # noqa", "Layers"),
        ("transfer/losses.py", "import paintvid.cli  # noqa", "Layers"),
        ("video/workdir.py", "import classifier.data  # noqa", "Layers"),
        ("media/warp.py", "import tensorflow  # noqa", "never import TensorFlow"),
    ],
)
def test_an_uphill_import_breaks_the_contract(tmp_path, module, line, broken):
    tree = _copy_tree(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert any(broken in row and "BROKEN" in row for row in result.stdout.splitlines()), result.stdout
