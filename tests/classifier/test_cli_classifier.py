"""The finetune / evaluate / classify subcommands and the evaluation notebook, on the session's tiny model."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from classifier.evaluate import EvaluateResult
from paintvid.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def evaluated(trained, tiny_manifest, tmp_path_factory):
    _, out = trained
    eval_dir = tmp_path_factory.mktemp("eval")
    code = main(["evaluate", "--model", str(out / "classifier.keras"), "--data", str(tiny_manifest),
                 "--out", str(eval_dir)])
    assert code == 0
    return eval_dir


def test_evaluate_writes_metrics_and_figures(evaluated):
    metrics = json.loads((evaluated / "metrics.json").read_text())
    assert metrics["n"] == 8 and metrics["split"] == "test"
    assert sum(map(sum, metrics["confusion"])) == 8
    lo, hi = metrics["accuracy_ci95"]
    assert lo <= metrics["accuracy"] <= hi
    assert set(metrics["per_class"]) == {"painting", "photo"}
    for name in ("roc.png", "confusion.png", "calibration.png", "wrong.png"):
        data = (evaluated / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


def test_classify_prints_path_tab_probability(trained, tiny_manifest, capsys):
    _, out = trained
    images = tiny_manifest.parent / "images"
    paint, photo = images / "painting" / "painting_004.png", images / "photo" / "photo_004.png"
    assert main(["classify", "--model", str(out / "classifier.keras"), str(paint), str(photo)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(paint), str(photo)]
    p_paint, p_photo = (float(line.split("\t")[1]) for line in lines)
    assert 0 <= p_photo < p_paint <= 1


@pytest.mark.parametrize("argv, needle", [
    (["finetune", "--data", "{d}/none.csv", "--out", "{d}/m"], "none.csv: no such file"),
    (["finetune", "--data", "{d}", "--out", "{d}/m", "--image-size", "50"], "image size 50"),
    (["finetune", "--data", "{d}", "--out", "{d}/m", "--image-size", "32"], "painting/ and photo/"),
    (["classify", "--model", "{d}/none.keras", "{d}/x.png"], "none.keras: no such file"),
    (["classify", "--model", "{model}", "{d}/junk.png"], "junk.png: cannot decode"),
    (["evaluate", "--model", "{d}/junk.png", "--data", "{data}", "--out", "{d}/e"], "cannot load classifier"),
])
def test_bad_input_one_line_exit_2(trained, tiny_manifest, tmp_path, capsys, argv, needle):
    (tmp_path / "junk.png").write_bytes(b"not a png")
    fill = {"d": tmp_path, "model": trained[1] / "classifier.keras", "data": tiny_manifest}
    code = main([a.format(**fill) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) >= 1 and needle in err[-1] and err[-1].startswith("paintvid: ")
    assert not any("Traceback" in line for line in err)


def test_notebook_executes_on_the_evaluation_output(evaluated, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("PAINTVID_EVAL_DIR", str(evaluated))
    nb = nbformat.read(REPO / "notebooks" / "evaluate_classifier.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # ROC, confusion, calibration, wrong grid
    text = "".join(o.get("text", "") for o in outputs)
    assert "accuracy" in text and "ROC AUC" in text


def test_notebook_and_plots_read_only_fields_evaluate_writes(evaluated):
    """metrics.json holds exactly the fields of EvaluateResult, and every key the notebook and the plots read is
    one of them (a renamed field fails here instead of in the notebook)."""
    fields = {f.name for f in dataclasses.fields(EvaluateResult)}
    assert set(json.loads((evaluated / "metrics.json").read_text())) == fields
    notebook = json.loads((REPO / "notebooks" / "evaluate_classifier.ipynb").read_text())
    code = "".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    code += (REPO / "classifier" / "plots.py").read_text()
    read = set(re.findall(r"metrics(?:\[|\.get\()[\"'](\w+)[\"']", code))
    assert {"accuracy", "roc_auc_ci95", "calibration", "threshold"} <= read <= fields, read - fields


def test_finetune_cli_defaults_are_the_library_recipe(tmp_path, monkeypatch):
    """`paintvid finetune` without recipe options runs FinetuneConfig's defaults (block 5 tuned); flags override."""
    import classifier.finetune as finetune_module
    from classifier.finetune import FinetuneConfig
    from paintvid.cli import main

    data = tmp_path / "imgs"
    (data / "painting").mkdir(parents=True)
    seen = []

    def capture(config):
        seen.append(config)
        raise RuntimeError("stop before training")  # the CLI reports it as an unexpected error (exit code 1)

    monkeypatch.setattr(finetune_module, "finetune", capture)
    for extra in ([], ["--epochs", "0", "--no-head-block5", "--learning-rate", "3e-5", "--no-average-mirror"]):
        assert main(["finetune", "--data", str(data), "--out", str(tmp_path / "m"), "--quiet", *extra]) == 1
    default, custom = seen
    expected = FinetuneConfig(data=data, out=tmp_path / "m", progress=False)
    assert default == expected and default.epochs > 0 and default.head_block5
    assert (custom.epochs, custom.head_block5, custom.learning_rate, custom.average_mirror) == (0, False, 3e-5, False)
    assert default.average_mirror and default.crops == 8 and default.augment_variants == 4
