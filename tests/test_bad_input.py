"""The bad-input matrix: every subcommand x the mistakes people make. Each row must end with exit code 2, exactly
one line on stderr naming the file or option and the problem, no traceback, and every file that was already in
the folder (finished outputs, the work folder, the inputs) untouched, with nothing new written.

Rows run ``paintvid.cli.main`` in-process (fast: every check happens before any work starts); a few run as a real
``paintvid`` process to prove that the real stderr carries the one line only, without TensorFlow's banner.

Adding a command is one :class:`Command` line in :data:`COMMANDS`: its argv template (``{bad}`` is the input the
rows replace, ``{out}`` its output, ``{d}`` the test folder holding the good inputs of :func:`good_inputs`), the
extension of the input under test, its three absurd numbers, and why a row does not apply, if one does not.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from paintvid.cli import main
from tests.conftest import stripes_image, textured_image

FOLDER = "/"  # the "extension" of an input that must be a folder
INPUT_ROWS = ("missing", "directory", "empty", "text", "truncated")


@dataclass(frozen=True)
class Command:
    """One subcommand as the matrix drives it."""

    name: str
    argv: str               # template: {d} test folder, {bad} the input under test, {out} the output
    bad_ext: str            # extension of the input under test, or FOLDER
    out: str                # good output, relative to {d} (inside results/, which holds finished files)
    numbers: tuple[tuple[str, str, str], ...] = ()  # (option, value, word the message must contain): 0, <0, huge
    bad_out: str | None = None  # an output name the writer cannot handle
    not_applicable: dict[str, str] = field(default_factory=dict)  # row -> why the command has no such case


COMMANDS = [
    Command("image", "image {bad} {d}/s.png -o {out} --width 32 --iterations 2 --quiet", ".jpg", "results/out.png",
            (("--width", "0", "width 0"), ("--iterations", "-1", "--iterations -1"),
             ("--width", "100000", "width 100000")), bad_out="results/out.txt"),
    Command("video-optimize", "video {bad} {d}/s.png -o {out} --width 32 --frames 2 --iterations 1 "
            "--first-iterations 1 --quiet", ".mp4", "results/out.mp4",
            (("--frames", "0", "frames"), ("--first-iterations", "-1", "iterations"),
             ("--width", "100000", "width 100000")), bad_out="results/out.txt"),
    Command("video-fast", "video {bad} -o {out} --method fast --model {d}/fast.keras --width 32 --frames 2 --quiet",
            ".mp4", "results/out.mp4",
            (("--batch-size", "0", "batch size 0"), ("--smoothing", "-1", "smoothing -1"),
             ("--batch-size", "100000", "batch size 100000")), bad_out="results/out.txt"),
    Command("evaluate-video", "evaluate-video {bad} --style {d}/s.png --original {d}/v.avi -o {out}", ".mp4",
            "results/report.json", bad_out="results/report.txt",
            not_applicable={"numbers": "evaluate-video takes no numeric options"}),
    Command("scrape", "scrape --out {out} -n 4 --queries {bad} --api-url http://127.0.0.1:9/ --quiet", ".toml",
            "results/dataset", (("-n", "0", "-n 0"), ("--workers", "-1", "--workers -1"),
             ("--workers", "1000", "--workers 1000"))),
    Command("dataset-import", "dataset import {bad} --label photo --out {out} --quiet", FOLDER, "results/dataset",
            (("--workers", "0", "--workers 0"), ("--min-side", "-1", "--min-side -1"),
             ("--workers", "1000", "--workers 1000")),
            not_applicable={"text": "a file that is not an image becomes a bad_image row of the manifest, by design",
                  "truncated": "a truncated image becomes a bad_image row of the manifest, by design"}),
    Command("finetune", "finetune --data {bad} --out {out} --quiet", ".csv", "results",
            (("--batch-size", "0", "--batch-size 0"), ("--epochs", "-1", "epochs"),
             ("--image-size", "100000", "--image-size 100000"))),
    Command("evaluate", "evaluate --model {bad} --data {d}/imgs --out {out}", ".keras", "results/eval",
            (("--threshold", "0", "threshold 0"), ("--threshold", "-1", "threshold -1"),
             ("--threshold", "2", "threshold 2"))),
    Command("classify", "classify --model {d}/clf.keras {bad}", ".jpg", "",
            not_applicable={"numbers": "classify takes no numeric options", "readonly": "classify writes no file",
                  "bad_out": "classify writes no file"}),
    Command("train-style", "train-style {bad} --out {out} --content {d}/imgs --steps 1 --quiet", ".jpg",
            "results/model.keras", (("--steps", "0", "--steps 0"), ("--batch-size", "-1", "--batch-size -1"),
             ("--size", "100000", "--size 100000")), bad_out="results/model.txt"),
    Command("app", "app --out {out} --port 0 --samples {d}/imgs --models {d}/results", FOLDER, "results/studio",
            (("--max-frames", "0", "upload limits"), ("--port", "-1", "--port -1"),
             ("--port", "100000", "--port 100000")),
            not_applicable={row: "app reads no input file (--samples and --models are optional folders)"
                            for row in INPUT_ROWS}),
    Command("video-arbitrary", "video {d}/v.avi {bad} -o {out} --method arbitrary --model {d}/arb.npz --width 32 "
            "--frames 2 --quiet", ".jpg", "results/out.mp4",
            (("--batch-size", "0", "batch size 0"), ("--strength", "-1", "--strength -1"),
             ("--strength", "100000", "--strength 100000")), bad_out="results/out.txt"),
    Command("video-arbitrary-model", "video {d}/v.avi {d}/s.png -o {out} --method arbitrary --model {bad} --quiet",
            ".npz", "results/out.mp4",
            not_applicable={row: "the video-arbitrary rows check the options and the output of the same command"
                            for row in ("numbers", "readonly", "bad_out")}),
    Command("video-painter", "video {d}/v.avi {bad} -o {out} --method arbitrary --width 32 --frames 2 --quiet",
            ".jpg", "results/out.mp4",
            (("--stroke-scale", "0", "--stroke-scale 0"), ("--stroke-scale", "-1", "--stroke-scale -1"),
             ("--stroke-scale", "100000", "--stroke-scale 100000")), bad_out="results/out.txt"),
    Command("image-painter", "image {d}/c.png {bad} -o {out} --method arbitrary --width 32", ".jpg",
            "results/out.png", (("--stroke-scale", "0", "--stroke-scale 0"), ("--width", "-1", "width -1"),
             ("--stroke-scale", "100000", "--stroke-scale 100000")), bad_out="results/out.txt"),
    Command("image-arbitrary", "image {d}/c.png {bad} -o {out} --method arbitrary --model {d}/arb.npz --width 32",
            ".jpg", "results/out.png", (("--width", "0", "width 0"), ("--strength", "-1", "--strength -1"),
             ("--width", "100000", "width 100000")), bad_out="results/out.txt"),
    Command("train-arbitrary", "train-arbitrary --paintings {bad} --content {d}/imgs --out {out} --steps 1 --quiet",
            FOLDER, "results/arb.npz", (("--steps", "0", "--steps 0"), ("--batch-size", "-1", "--batch-size -1"),
             ("--steps", "20000000", "--steps 2e+07")), bad_out="results/arb.txt",
            not_applicable={"text": "an unreadable painting in the folder is skipped with a message, by design",
                  "truncated": "an unreadable painting in the folder is skipped with a message, by design"}),
    Command("distill-arbitrary", "distill-arbitrary --paintings {bad} --content {d}/imgs --out {out} --steps 1 "
            "--quiet", FOLDER, "results/student.npz", (("--steps", "0", "--steps 0"),
                                                       ("--batch-size", "-1", "--batch-size -1"),
                                                       ("--samples", "20000000", "--samples 2e+07")),
            bad_out="results/student.txt",
            not_applicable={"text": "an unreadable painting in the folder is skipped, by design",
                  "truncated": "an unreadable painting in the folder is skipped, by design"}),
    Command("stabilize", "stabilize {d}/v.avi {bad} -o {out} --quiet", ".mp4", "results/out.mp4",
            (("--flow-scale", "0", "--flow-scale 0"), ("--strength", "-1", "--strength -1"),
             ("--strength", "100000", "--strength 100000")), bad_out="results/out.txt"),
    Command("stabilize-original", "stabilize {bad} {d}/v.avi -o {out} --quiet", ".mp4", "results/out.mp4",
            not_applicable={row: "the stabilize rows check the options and the output of the same command"
                            for row in ("numbers", "readonly", "bad_out")}),
    Command("video-output-width", "video {d}/v.avi {d}/s.png -o {out} --width 32 --frames 2 --iterations 1 "
            "--first-iterations 1 --quiet", ".mp4", "results/out.mp4",
            (("--output-width", "0", "--output-width 0"), ("--output-width", "16", "smaller than --width 32"),
             ("--output-width", "100000", "--output-width 100000")),
            not_applicable={row: "the video-optimize rows check the inputs and the output of the same command"
                            for row in (*INPUT_ROWS, "readonly", "bad_out")}),
    Command("video-first-init", "video {d}/v.avi {d}/s.png -o {out} --width 32 --frames 2 --iterations 1 "
            "--first-iterations 1 --quiet", ".mp4", "results/out.mp4",
            (("--first-init", "paint", "--first-init 'paint'"), ("--first-init", "-1", "--first-init '-1'")),
            not_applicable={row: "the video-optimize rows check the inputs and the output of the same command"
                            for row in (*INPUT_ROWS, "readonly", "bad_out")}),
    Command("image-output-width", "image {d}/c.png {d}/s.png -o {out} --width 32 --iterations 2 --quiet", ".jpg",
            "results/out.png",
            (("--output-width", "0", "--output-width 0"), ("--output-width", "16", "smaller than --width 32"),
             ("--output-width", "100000", "--output-width 100000")),
            not_applicable={row: "the image rows check the inputs and the output of the same command"
                            for row in (*INPUT_ROWS, "readonly", "bad_out")}),
    Command("video-keyframe", "video {d}/v.avi -o {out} --keyframe 1={bad} --width 32 --frames 2 --quiet", ".jpg",
            "results/out.mp4", (("--frames", "0", "frames"), ("--smoothing", "-1", "--smoothing -1"),
                                ("--width", "100000", "width 100000")), bad_out="results/out.txt"),
]

#: What the message must say for each kind of bad input (besides naming the file).
PROBLEM = {
    "missing": r"no such|not a folder|not found",
    "directory": r"directory|is a file|not a folder|no usable|no stylized|expected sub-folders",
    "empty": r"empty|0 bytes|no image files|no usable",
    "text": r"not an? |cannot|damaged|not valid|no usable|lacks",
    "truncated": r"not an? |cannot|damaged|not valid|no usable|lacks|no video frames",
    "numbers": r"choose|outside|must|out of range|need|at least|>=",
    "readonly": r"not writable|is a file",
    "bad_out": r"unsupported|must be|is a file",
    "same_file": r"is the input file",
}


def good_inputs(d: Path) -> None:
    """Write the good inputs every template may use into ``d``, and finished outputs into ``d/results``."""
    cv2.imwrite(str(d / "c.png"), textured_image(48, 64))
    cv2.imwrite(str(d / "s.png"), stripes_image(48, 64))
    write_clip(d / "v.avi")
    header = b'{"format": "paintvid-arbitrary-1", "spec": {}, "meta": {}}'  # well-formed: rows fail before loading
    np.savez(d / "arb.npz", header=np.frombuffer(header, dtype=np.uint8))
    for name in ("fast.keras", "clf.keras"):  # a well-formed archive: every row fails before a model loads
        with zipfile.ZipFile(d / name, "w") as z:
            z.writestr("config.json", "{}")
    for label in ("painting", "photo"):
        (d / "imgs" / label).mkdir(parents=True)
        cv2.imwrite(str(d / "imgs" / label / "a.png"), textured_image(48, 64, seed=1))
    results = d / "results"
    (results / "out.work" / "stylized").mkdir(parents=True)
    cv2.imwrite(str(results / "finished.png"), textured_image(16, 16, seed=2))
    cv2.imwrite(str(results / "out.work" / "stylized" / "000001.png"), textured_image(16, 16, seed=3))
    (results / "out.work" / "run.json").write_text('{"frames": {}}')
    (results / "model.train").mkdir()
    (results / "model.train" / "checkpoint.json").write_text('{"step": 7}')


def write_clip(path: Path, frames: int = 10) -> Path:
    """Write a 64x48 MJPG clip of a moving texture."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    base = textured_image(48, 64)
    for i in range(frames):
        writer.write(np.roll(base, i, axis=1))
    writer.release()
    return path


def truncated(d: Path, ext: str) -> Path:
    """Return a real file of type ``ext`` cut short, so that it cannot be read."""
    if ext in (".jpg", ".png"):
        ok, buf = cv2.imencode(".png", textured_image(48, 64))
        data, path = buf.tobytes(), d / "cut.png"
    elif ext == ".mp4":
        data, path = write_clip(d / "full.avi").read_bytes(), d / "cut.avi"
        (d / "full.avi").unlink()
        data = data[: len(data) // 20]
    elif ext == ".keras":
        path = d / "cut.keras"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", "{}" * 500)
        data = path.read_bytes()
    elif ext == ".npz":
        path = d / "cut.npz"
        np.savez(path, header=np.frombuffer(b'{"format": "paintvid-arbitrary-1"}' * 50, dtype=np.uint8))
        data = path.read_bytes()
    elif ext == ".toml":
        data, path = b'[labels.painting]\nqueries = ["oil pain', d / "cut.toml"
    elif ext == ".csv":
        data, path = b"id,label,query,owner,owner_name,lic", d / "cut.csv"
    else:
        raise ValueError(ext)
    path.write_bytes(data if ext in (".toml", ".csv", ".mp4") else data[: len(data) // 2])
    return path


def bad_input(d: Path, row: str, ext: str) -> Path:
    """Return the path the row hands the command instead of its good input."""
    bad = d / "bad"
    bad.mkdir(exist_ok=True)
    if ext == FOLDER:  # a command that reads a folder: the mirror images of the file rows
        path = bad / "images"
        if row == "directory":
            path.write_text("a file, not a folder")
        elif row == "empty":
            path.mkdir()
        return path
    if row == "missing":
        return bad / f"missing{ext}"
    if row == "directory":
        (bad / f"folder{ext}").mkdir()
        return bad / f"folder{ext}"
    if row == "empty":
        (bad / f"empty{ext}").write_bytes(b"")
        return bad / f"empty{ext}"
    if row == "text":
        (bad / f"text{ext}").write_text("<html>this is a web page, not what you think</html>\n")
        return bad / f"text{ext}"
    return truncated(bad, ext)


def readonly_output(d: Path, out: str) -> tuple[str, str]:
    """Return (output path, name the message must contain) where the output's folder cannot be written.

    chmod makes a read-only folder, except for root, who writes anyway: there the output's parent is a regular
    file instead, a folder no one can create.
    """
    locked = d / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        (locked / "probe").touch()
    except PermissionError:
        return str(locked / Path(out).name), Path(out).name
    (locked / "probe").unlink()
    locked.chmod(0o755)
    parent = d / "results" / "finished.png"
    return str(parent / Path(out).name), Path(out).name


def snapshot(root: Path) -> dict[str, str]:
    """Return {relative path: sha256} of every file under ``root`` (folders end with /)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel + "/" if p.is_dir() else rel] = "" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def build_row(d: Path, command: Command, row: str, variant: int = 0) -> tuple[list[str], str]:
    """Return (argv, word the message must contain) of one row."""
    fields = {"d": str(d), "bad": str(d / "imgs") if command.bad_ext == FOLDER else default_good(d, command),
              "out": str(d / command.out)}
    needle = ""
    extra: list[str] = []
    if row in INPUT_ROWS:
        fields["bad"] = str(bad_input(d, row, command.bad_ext))
        needle = Path(fields["bad"]).name
    elif row == "numbers":
        option, value, needle = command.numbers[variant]
        extra = [option, value]
    elif row == "readonly":
        fields["out"], needle = readonly_output(d, command.out)
    elif row == "bad_out":
        if command.bad_out is None:  # a folder output: an existing file where the folder should go
            fields["out"], needle = str(d / "results" / "finished.png"), "finished.png"
        else:
            fields["out"], needle = str(d / command.bad_out), Path(command.bad_out).name
    return [*(a.format(**fields) for a in shlex.split(command.argv)), *extra], needle


def default_good(d: Path, command: Command) -> str:
    """Return the good input of the slot under test."""
    return {".jpg": d / "c.png", ".mp4": d / "v.avi", ".keras": d / "clf.keras", ".npz": d / "arb.npz",
            ".toml": d / "q.toml",
            ".csv": d / "imgs"}[command.bad_ext].as_posix()


def rows() -> list:
    params = []
    for c in COMMANDS:
        for row in (*INPUT_ROWS, "numbers", "readonly", "bad_out"):
            variants = range(len(c.numbers)) if row == "numbers" and c.numbers else [0]
            if row in c.not_applicable:  # not a skipped test: the command has no such input (the reason says why)
                continue
            for v in variants:
                suffix = f"-{c.numbers[v][0]}={c.numbers[v][1]}" if row == "numbers" and c.numbers else ""
                params.append(pytest.param(c, row, v, id=f"{c.name}-{row}{suffix}"))
    return params


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FLICKR_API_KEY", "test-key")
    monkeypatch.setenv("FLICKR_API_SECRET", "test-secret")
    good_inputs(tmp_path)
    (tmp_path / "q.toml").write_text('[labels.painting]\nqueries = ["oil painting"]\n'
                                     '[labels.photo]\nqueries = ["landscape"]\n')
    yield tmp_path
    for p in tmp_path.rglob("*"):  # let pytest remove what a row locked
        if p.is_dir():
            p.chmod(0o755)


def assert_one_line_error(code, err: str, needle: str, row: str) -> None:
    err = err.strip()
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert err.count("\n") == 0 and err, f"expected one line on stderr, got: {err!r}"
    assert "Traceback" not in err
    assert err.startswith("paintvid: ") and err.endswith("(run with --verbose for details)"), err
    assert needle in err, f"{needle!r} not named in: {err!r}"
    assert re.search(PROBLEM[row], err), f"the problem ({PROBLEM[row]}) not said in: {err!r}"


@pytest.mark.parametrize("command, row, variant", rows())
def test_bad_input_fails_fast_with_one_line(folder, capsys, command, row, variant):
    argv, needle = build_row(folder, command, row, variant)
    before = snapshot(folder)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert_one_line_error(code, capsys.readouterr().err, needle, row)
    assert snapshot(folder) == before, "files in the test folder were added, removed or changed"


@pytest.mark.parametrize("name, row", [("image", "truncated"), ("finetune", "directory")])
def test_real_stderr_has_the_one_line_only(folder, name, row):
    """A real ``paintvid`` process: TensorFlow is imported before these checks, yet its banner never shows."""
    command = next(c for c in COMMANDS if c.name == name)
    argv, needle = build_row(folder, command, row)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "paintvid",
                           *argv], capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, needle, row)


def test_verbose_shows_the_traceback(folder):
    command = COMMANDS[0]
    argv, _ = build_row(folder, command, "text")
    proc = subprocess.run([sys.executable, "-m", "paintvid", *argv, "--verbose"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr and "UserError" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("paintvid: ")


def test_truncated_clip_warns_with_frames_requested_and_read(tmp_path, caplog):
    from media.video_io import ReadOptions, read_frames

    data = write_clip(tmp_path / "full.avi", frames=30).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the clip stops half way, as a failed download or copy leaves it
    with caplog.at_level("WARNING", logger="media.video_io"):
        frames = read_frames(cut, ReadOptions(frames=30))
    assert 0 < len(frames) < 30
    (record,) = caplog.records
    assert record.getMessage() == (f"{cut}: 30 frames requested, {len(frames)} read: the file ended early or "
                                   "frames failed to decode")
    caplog.clear()
    with caplog.at_level("WARNING", logger="media.video_io"):
        assert len(read_frames(tmp_path / "full.avi")) == 30
        assert len(read_frames(tmp_path / "full.avi", ReadOptions(frames=12))) == 12
    assert caplog.records == []  # a whole file read in full, or in part on purpose: no word


def test_output_that_is_an_input_is_refused(folder, capsys):
    from foundation.errors import UserError
    from foundation.paths import check_output_path

    before = snapshot(folder)
    link = folder / "results" / "same.png"
    os.link(folder / "c.png", link)  # another name for the content photo
    code = main(["image", str(folder / "c.png"), str(folder / "s.png"), "-o", str(link), "--quiet"])
    assert_one_line_error(code, capsys.readouterr().err, "same.png", "same_file")
    link.unlink()
    assert snapshot(folder) == before
    with pytest.raises(UserError, match=r"s\.png: is the input file .*s\.png; choose another image name"):
        check_output_path(folder / "s.png", (".png",), [folder / "c.png", folder / "s.png"], what="image")


def test_output_checks_name_the_path_and_the_problem(tmp_path, monkeypatch):
    from foundation.errors import UserError
    from foundation.paths import check_output_dir, check_output_path

    (tmp_path / "a.png").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        (lambda: check_output_path(tmp_path / "a.png", (".png",)), "a.png: is a directory; the output must be a file"),
        (lambda: check_output_path(tmp_path / "file" / "sub" / "o.png", (".png",)), "cannot create its folder"),
        (lambda: check_output_path(tmp_path / "o", (".keras",), what="model"), "(no extension); use .keras"),
        (lambda: check_output_dir(tmp_path / "file", what="work folder"), "file: is a file; the work folder must be"),
    ]
    for call, needle in cases:
        with pytest.raises(UserError) as info:
            call()
        assert needle in str(info.value)
    assert check_output_path(tmp_path / "new" / "deeper" / "o.PNG", (".png",)) == tmp_path / "new" / "deeper" / "o.PNG"
    assert not (tmp_path / "new").exists()  # a check creates nothing
    # what a read-only folder looks like to a user who is not root (root writes anyway, so fake the answer)
    monkeypatch.setattr("foundation.paths.os.access", lambda *_: False)
    with pytest.raises(UserError, match=rf"o\.png: folder {re.escape(str(tmp_path))} is not writable"):
        check_output_path(tmp_path / "o.png", (".png",))
