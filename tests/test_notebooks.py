"""The video-evaluation and dataset notebooks execute on tiny synthetic outputs, and the functions behind them
(``video.report_plots``, ``scraper.dataset_summary``) give the right numbers on those outputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from foundation.errors import UserError
from foundation.figures import figure_png
from scraper.manifest import COLUMNS
from tests.conftest import stripes_image, textured_image

REPO = Path(__file__).resolve().parents[1]
H, W, T = 32, 48, 5


# ---- fake outputs of `paintvid video`, fast mode and `paintvid evaluate-video` ------------------------------------

def _clip() -> list[np.ndarray]:
    """T frames of a smooth texture moving 1 px right per frame (a known, easy flow)."""
    big = cv2.GaussianBlur(textured_image(H, W + T, seed=3), (5, 5), 1.5)
    return [np.ascontiguousarray(big[:, T - t: T - t + W]) for t in range(T)]


def _stylise(frame: np.ndarray) -> np.ndarray:
    """A deterministic per-pixel 'style' (inverted, channels swapped): follows the input's motion exactly."""
    return np.ascontiguousarray(255 - frame[..., ::-1])


def _workdir(root: Path, frames, stylized, run: dict, evaluation: dict | None) -> Path:
    for i, (f, s) in enumerate(zip(frames, stylized, strict=True), start=1):
        for folder, image in (("frames", f), ("stylized", s)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f"{i:06d}.png"), image)
    (root / "run.json").write_text(json.dumps(run))
    if evaluation is not None:
        (root / "evaluation.json").write_text(json.dumps(evaluation))
    return root


def _run_json(style: Path, temporal: float, passes: int = 1, weighted_style: float = 50.0) -> dict:
    frames = {f"{passes}:{i:06d}": {"frame": i, "pass": passes, "iterations": 10, "seconds": 2.0,
                                    "losses": {"style": weighted_style + i, "content": 20.0 - i, "tv": 0.1,
                                               "temporal": 0.0, "total": 70.0}} for i in range(1, T + 1)}
    return {"config": {"style": {"styles": [str(style)]}, "loss": {"temporal": temporal}, "long_term": [1],
                       "passes": passes},
            "frames": frames, "n_frames": T, "summary": {"mean_seconds_per_frame": 2.0}}


def _evaluation(stylized: Path, temporal_error: float) -> dict:
    return {"frames": T, "temporal_error": temporal_error, "input_temporal_error": 0.001,
            "mean_style_loss": 3.0, "mean_content_loss": 4.0, "stylized": str(stylized),
            "per_frame": {"temporal_error": [temporal_error] * (T - 1), "input_temporal_error": [0.001] * (T - 1),
                          "style_loss": [3.0] * T, "content_loss": [4.0] * T}}


@pytest.fixture
def video_runs(tmp_path) -> dict[str, Path]:
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(40, 40))
    frames = _clip()
    consistent = [_stylise(f) for f in frames]
    rng = np.random.default_rng(0)
    flickering = [np.clip(s.astype(int) + rng.integers(-40, 41, s.shape), 0, 255).astype(np.uint8)
                  for s in consistent]
    temporal = _workdir(tmp_path / "temporal.work", frames, consistent, _run_json(style, 1e3),
                        _evaluation(tmp_path / "temporal.work", 0.002))
    # no evaluation report: its curves fall back to run.json's weighted losses
    independent = _workdir(tmp_path / "independent.work", frames, flickering, _run_json(style, 0.0), None)
    multipass = _workdir(tmp_path / "multipass.work", frames, consistent, _run_json(style, 1e3, passes=3),
                         _evaluation(tmp_path / "multipass.work", 0.0015))
    # fast mode keeps only run.json in its work directory; evaluate-video of the MP4 writes OUT.evaluation.json
    (tmp_path / "fast.work").mkdir()
    (tmp_path / "fast.work" / "run.json").write_text(json.dumps({"method": "fast", "fps": 40.0, "n_frames": T}))
    fast_eval = tmp_path / "fast.evaluation.json"
    fast_eval.write_text(json.dumps(_evaluation(tmp_path / "fast.mp4", 0.004)))
    return {"independent": independent, "temporal": temporal, "multi-pass": multipass, "fast": fast_eval}


def _execute(name: str, env: dict[str, str], monkeypatch) -> list[dict]:
    import nbclient
    import nbformat

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    return outputs


def _text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)


def test_evaluate_video_notebook_executes(video_runs, monkeypatch):
    spec = ",".join(f"{k}={v}" for k, v in video_runs.items())
    outputs = _execute("evaluate_video.ipynb", {"PAINTVID_VIDEO_RUNS": spec}, monkeypatch)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # curves, flicker heat maps, strip of frames, colour preservation
    text = _text(outputs)
    for line in ("independent: independent, 5 frames, evaluation no", "temporal: temporal, 5 frames, evaluation yes",
                 "multi-pass: multi-pass, 5 frames", "fast: fast, 5 frames, evaluation yes"):
        assert line in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "error_over_input" in html and "multi-pass" in html


def test_evaluate_video_notebook_says_when_there_is_nothing_to_show(tmp_path, monkeypatch):
    outputs = _execute("evaluate_video.ipynb", {"PAINTVID_VIDEO_RUNS": "", "PAINTVID_RUNS_DIR": str(tmp_path)},
                       monkeypatch)
    text = _text(outputs)
    assert f"no runs in {tmp_path.resolve()}" in text and "no run with stylised frames" in text


def test_dataset_notebook_executes(manifest, monkeypatch):
    outputs = _execute("dataset.ipynb", {"PAINTVID_MANIFEST": str(manifest)}, monkeypatch)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 5  # outcomes, licences, sizes, failures, split
    text = _text(outputs)
    assert "23 candidates from 4 queries; 12 usable {'painting': 7, 'photo': 5}, 4 duplicates, 1 surplus, 6 failed" \
        in text
    assert "{'near-identical': 3, 'same photo id': 1}" in text


# ---- the functions behind the video notebook ----------------------------------------------------------------------

def test_runs_are_loaded_and_classified(video_runs):
    from video import report_plots as rp

    runs = rp.load_runs(video_runs)
    assert [r.kind for r in runs] == ["independent", "temporal", "multi-pass", "fast"]
    fast = runs[3]
    assert fast.workdir == video_runs["fast"].with_name("fast.work") and not fast.stylized and fast.n_frames == T
    table = rp.summary_table(runs)
    assert table.loc["temporal", "error_over_input"] == pytest.approx(2.0)
    assert table.loc["fast", "seconds_per_frame"] == pytest.approx(1 / 40)
    assert table.loc["temporal", "fps"] == pytest.approx(0.5)
    assert pd.isna(table.loc["independent", "temporal_error"])
    # per-frame series: temporal error starts at frame 1; run.json's losses are the last pass's, 0-based frames
    te, source = rp.per_frame(runs[1], "temporal_error")
    assert source == "evaluation" and list(te.index) == [1, 2, 3, 4]
    style, source = rp.per_frame(runs[0], "style_loss")
    assert source == "run.json (weighted)" and list(style.index) == list(range(T))
    assert style.iloc[0] == 51.0
    assert rp.per_frame(runs[0], "temporal_error") == (None, "")


def test_flicker_maps_rank_flickering_above_consistent(video_runs):
    from video import report_plots as rp

    runs = rp.load_runs({k: v for k, v in video_runs.items() if k != "fast"})
    maps = rp.flicker_maps(runs)
    assert list(maps) == ["input video", "independent", "temporal", "multi-pass"]
    assert all(m.shape == (H, W) and m.dtype == np.float32 for m in maps.values())
    # a per-pixel colour map of a moving texture follows the flow as well as the input does; noise does not
    assert maps["temporal"].mean() < 3 * maps["input video"].mean() + 1e-4
    assert maps["independent"].mean() > 10 * maps["temporal"].mean()


def test_color_example_and_figures(video_runs):
    from video import report_plots as rp

    runs = rp.load_runs(video_runs)
    content, style, stylized = rp.color_example(runs)
    assert content.shape == stylized.shape == (H, W, 3) and style.shape == (40, 40, 3)
    png = figure_png(rp.color_preservation_figure(content, style, stylized))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    empty = figure_png(rp.flicker_figure({}))
    assert empty[:4] == b"\x89PNG"


def test_run_specs_and_bad_paths(tmp_path, video_runs):
    from video import report_plots as rp

    assert rp.parse_runs(" a = x.work , b=y.json ") == {"a": Path("x.work"), "b": Path("y.json")}
    for bad in ("", "a", "=x", "a="):
        with pytest.raises(UserError):
            rp.parse_runs(bad)
    assert set(rp.discover_runs(tmp_path)) == {"independent", "temporal", "multipass", "fast"}
    with pytest.raises(UserError, match="no such work directory"):
        rp.load_run("x", tmp_path / "missing.work")
    (tmp_path / "empty.work").mkdir()
    with pytest.raises(UserError, match="holds no run.json"):
        rp.load_run("x", tmp_path / "empty.work")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="cannot read JSON"):
        rp.load_run("x", tmp_path / "broken.json")


# ---- a synthetic scraper manifest ----------------------------------------------------------------------------------

def _row(i: int, label: str, status: str, **extra) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    row.update(id=f"{label[:2]}{i}", label=label, query=f"{label} q{i % 2}", owner=f"o{i}", license="4",
               url=f"https://example.invalid/{i}.jpg", status=status)
    if status in ("ok", "surplus", "duplicate"):
        row.update(width=str(400 + 10 * i), height=str(300 + 5 * i), sha256=f"{i:064x}", phash=f"{i:016x}")
    row.update(extra)
    return row


@pytest.fixture
def manifest(tmp_path) -> Path:
    rows = [_row(i, "painting", "ok", split=("train", "train", "train", "val", "test", "train", "val")[i],
                 license=("4", "9", "4", "11", "", "4", "9")[i]) for i in range(7)]
    rows += [_row(i, "photo", "ok", split=("train", "train", "val", "test", "train")[i], width=str(800 + i),
                  height=str(600)) for i in range(5)]
    rows += [_row(20, "photo", "surplus")]
    rows += [_row(21, "painting", "duplicate", error="near-identical to image pa1 (pHash distance 3)"),
             _row(22, "painting", "duplicate", error="near-identical to image pa2 (pHash distance 0)"),
             _row(23, "photo", "duplicate", error="near-identical to image ph0 (pHash distance 5)"),
             _row(24, "photo", "duplicate", error="photo id already found by query 'painting q0' (label painting)")]
    rows += [_row(30, "photo", "failed_download", error="HTTPError: HTTP 500 for https://example.invalid/30.jpg"),
             _row(31, "photo", "failed_download", error="HTTPError: HTTP 500 for https://example.invalid/31.jpg"),
             _row(32, "painting", "failed_download", error="ReadTimeout: timed out"),
             _row(33, "painting", "bad_image", error="content type text/html, not an image"),
             _row(34, "photo", "too_small", error="shorter side 120 px is under 256"),
             _row(35, "painting", "no_url", error="no usable url_* size in the search answer")]
    path = tmp_path / "data" / "manifest.csv"
    path.parent.mkdir()
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False)
    return path


def test_dataset_tables(manifest):
    from scraper import dataset_summary as ds

    df = ds.load(manifest.parent)
    o = ds.overview(df)
    assert (o["rows"], o["ok"], o["duplicates"], o["surplus"], o["failed"]) == (23, 12, 4, 1, 6)
    balance = ds.class_balance(df)
    assert balance.loc["painting", "images"] == 7 and balance.loc["photo", "share"] == pytest.approx(5 / 12)
    assert balance.loc["photo", "found"] == 5 + 1 + 2 + 3  # ok, surplus, duplicates, failures
    status = ds.status_table(df)
    assert list(status.columns[:2]) == ["ok", "failed_download"] and status.loc["photo", "total"] == 11
    lic = ds.license_table(df)
    assert lic.index[0] == "CC BY 2.0" and lic.loc["CC BY 2.0", "total"] == 3 + 5
    assert lic.loc["CC0 1.0", "painting"] == 2 and lic.loc["none recorded (local import)", "total"] == 1
    assert ds.license_name("99") == "licence 99"
    sizes = ds.size_table(df)
    assert sizes.loc["photo", "width_min"] == 800 and sizes.loc["painting", "height_max"] == 330
    assert sizes.loc["photo", "landscape_share"] == 1.0
    dups = ds.duplicates_table(df)
    assert list(dups["kind"]) == ["near-identical"] * 3 + ["same photo id"]
    assert list(dups["matches"][:3]) == ["pa1", "pa2", "ph0"] and list(dups["phash_distance"][:3]) == [3, 0, 5]
    fails = ds.failure_reasons(df)
    assert fails.iloc[0].to_dict() == {"status": "failed_download", "reason": "HTTPError: HTTP 500 for <url>",
                                       "count": 2, "example": "ph30"}
    assert fails["count"].sum() == 6
    split = ds.split_table(df)
    assert split.loc["painting"].to_dict() == {"train": 4, "val": 2, "test": 1, "total": 7}
    assert split.loc["photo", "train"] == 3


def test_failure_reason_normalisation():
    from scraper.dataset_summary import failure_reason

    assert failure_reason("1048577 bytes exceeds the limit of 1048576") == "N bytes exceeds the limit of N"
    assert failure_reason("HTTP 404 for http://x/y.jpg\n") == "HTTP 404 for <url>"
    assert failure_reason("query 'abc def' failed") == "query '...' failed"
    assert failure_reason("") == "(no message)"
