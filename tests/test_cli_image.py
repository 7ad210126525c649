"""CLI error paths: one line on stderr, exit code 2, no traceback; and a real subprocess run."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from paintvid.cli import main
from tests.conftest import stripes_image, textured_image


@pytest.fixture
def files(tmp_path):
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    cv2.imwrite(str(content), textured_image(32, 32))
    cv2.imwrite(str(style), stripes_image(32, 32))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("<html>not an image</html>")
    return tmp_path


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["image", "{d}/nope.png", "{d}/s.png"], "nope.png: no such file"),
        (["image", "{d}/c.png", "{d}/text.jpg"], "text.jpg: not an image"),
        (["image", "{d}/empty.jpg", "{d}/s.png"], "empty.jpg: file is empty"),
        (["image", "{d}/c.png", "{d}/s.png", "--width", "100000"], "width 100000"),
        (["image", "{d}/c.png", "{d}/s.png", "--weights", "{d}/none.weights.h5"], "none.weights.h5: weights file"),
        (["image", "{d}/c.png", "{d}/s.png", "--blend", "1,2,3"], "3 blend weights given for 1 styles"),
        (["image", "{d}/c.png", "{d}/s.png", "--init", "{d}/text.jpg"], "text.jpg: not an image"),
    ],
)
def test_bad_input_one_line_exit_2(files, capsys, argv, needle):
    code = main([a.format(d=files) for a in argv] + ["-o", str(files / "out.png"), "--iterations", "1", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert needle in err and err.count("\n") == 0 and "Traceback" not in err
    assert not (files / "out.png").exists()


def test_absurd_image_size_rejected_before_decoding(tmp_path, capsys):
    from PIL import Image

    # a PNG header that claims 30000 x 30000 pixels: refused from the header alone
    big = tmp_path / "big.png"
    Image.new("L", (30000, 30000)).save(big, optimize=False, compress_level=1)
    style = tmp_path / "s.png"
    cv2.imwrite(str(style), stripes_image(16, 16))
    code = main(["image", str(big), str(style), "-o", str(tmp_path / "o.png"), "--quiet",
                 "--iterations", "1"])
    assert code == 2 and "too large" in capsys.readouterr().err


def test_subprocess_end_to_end(files):
    out = files / "o.png"
    proc = subprocess.run(
        [sys.executable, "-m", "paintvid", "image", str(files / "c.png"), str(files / "s.png"), "-o", str(out),
         "--width", "32", "--iterations", "3", "--quiet"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and out.with_suffix(".json").exists()
    assert np.asarray(cv2.imread(str(out))).shape == (32, 32, 3)
    bad = subprocess.run([sys.executable, "-m", "paintvid", "image", "missing.png", str(files / "s.png"),
                          "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "missing.png" in bad.stderr


@pytest.mark.parametrize("command", ["image", "video"])
def test_optimizer_choices_are_the_optimizer_kinds(command):
    """``--optimizer`` offers every :class:`transfer.optimize.OptimizerKind` (its choices are spelled out so that
    the CLI does not import the library before checking options) and leaves the default to each command's library:
    scipy's L-BFGS-B for an image, the projected L-BFGS for a video."""
    import argparse

    from paintvid.cli import build_parser
    from transfer.optimize import OptimizerKind

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    option = next(a for a in commands.choices[command]._actions if "--optimizer" in a.option_strings)
    assert sorted(option.choices) == sorted(k.value for k in OptimizerKind)
    assert option.default is None
    from transfer.optimize import OptimizeOptions
    from video.config import VideoConfig

    assert OptimizeOptions.kind is OptimizerKind.LBFGS and VideoConfig.optimizer is OptimizerKind.LBFGS_PROJECTED


def test_loss_weights_left_out_take_the_library_defaults():
    """The CLI spells out no loss weight: a bare command gets LossWeights()'s, a given option only its own."""
    from paintvid.cli import build_parser
    from paintvid.commands.common import loss_weights
    from transfer.objective import LossWeights

    parser = build_parser()
    assert loss_weights(parser.parse_args(["image", "a.jpg", "b.jpg", "-o", "x.png"])) == LossWeights()
    given = loss_weights(parser.parse_args(["video", "a.mp4", "b.jpg", "-o", "x.mp4", "--laplacian-weight", "0",
                                            "--content-weight", "5"]), temporal=0.5)
    assert given == LossWeights(content=5.0, laplacian=0.0, temporal=0.5)


@pytest.mark.parametrize("command", ["image", "video"])
def test_lbfgs_memory_reaches_the_optimizer_and_a_bad_one_is_one_line(command, tmp_path, monkeypatch):
    """``--lbfgs-memory`` (the old defaults' 100 behind an option) reaches the optimiser's options; left out, the
    library's default; 0 is refused in one line naming the option."""
    from paintvid.cli import build_parser
    from transfer.optimize import DEFAULT_LBFGS_MEMORY

    parser = build_parser()
    inputs = ["a.jpg", "b.jpg", "-o", str(tmp_path / ("x.png" if command == "image" else "x.mp4"))]
    assert parser.parse_args([command, *inputs]).lbfgs_memory is None
    assert parser.parse_args([command, *inputs, "--lbfgs-memory", "100"]).lbfgs_memory == 100
    class Reached(Exception):
        """Raised by the stand-in for the library: the command got as far as running it, with these options."""

    def stand_in(options):
        raise Reached(options)

    if command == "image":
        import paintvid.commands.image as module

        monkeypatch.setattr("transfer.stylize.stylize_image", lambda config: stand_in(config.optimize))
    else:
        import paintvid.commands.video as module

        monkeypatch.setattr("video.pipeline.stylize_video", stand_in)
        monkeypatch.setattr(module, "require_files", lambda *a, **k: None)
        monkeypatch.setattr(module, "check_outputs", lambda *a, **k: None)
        monkeypatch.setattr("media.video_io.probe", lambda *a, **k: None)
    monkeypatch.setattr(module, "require_input_files", lambda *a, **k: None)
    monkeypatch.setattr(module, "output_width_of", lambda *a, **k: None)  # it would read the (absent) input's size
    for memory, expected in ((None, DEFAULT_LBFGS_MEMORY), (100, 100)):
        argv = [command, *inputs, *(["--lbfgs-memory", str(memory)] if memory else [])]
        with pytest.raises(Reached) as reached:
            module.run(parser.parse_args(argv))
        assert reached.value.args[0].lbfgs_memory == expected
    proc = subprocess.run([sys.executable, "-m", "paintvid", command, *inputs, "--lbfgs-memory", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--lbfgs-memory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
