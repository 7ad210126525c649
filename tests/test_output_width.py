"""``--output-width``: every method paints at ``--width`` and writes at the output width (by default the input's own),
upsampled as the frames stream to the writer; the run record states both sizes and the peak memory."""

from __future__ import annotations

import json
import subprocess

import cv2
import pytest

from media.video_io import ReadOptions, ffmpeg_exe, probe
from paintvid.cli import main
from tests.conftest import stripes_image, textured_image
from transfer.fast.network import NetworkSpec, build_network, save_network
from transfer.stylize import StyleSpec
from video.config import VideoConfig
from video.pipeline import stylize_video
from video.results import read_result

TINY = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("output_width")
    video = root / "odd.mkv"  # 71 x 45: both sides odd (lossless FFV1 keeps them)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=71x45:rate=8:duration=0.5",
                    "-c:v", "ffv1", str(video)], check=True)
    model = save_network(build_network(TINY, seed=0), root / "tiny.keras")
    style = root / "style.png"
    cv2.imwrite(str(style), stripes_image(48, 64))
    return root, video, model, style


def test_fast_writes_the_clips_own_width_by_default(media, capsys):
    root, video, model, _ = media
    out = root / "fast.mp4"
    assert main(["video", str(video), "--method", "fast", "--model", str(model), "-o", str(out), "--width", "32",
                 "--side-by-side", "--quiet"]) == 0
    info = probe(out)
    assert (info.frame_count, info.width, info.height) == (4, 70, 44)  # the clip's 71 x 45 at even sides
    assert probe(root / "fast_side_by_side.mp4").width == 140
    result = read_result(root / "fast.work" / "run.json")
    assert (result.size.width, result.size.height) == (70, 44)
    assert (result.working_size.width, result.working_size.height) == (32, 24)
    assert result.peak_rss_mb > 50 and result.stage_seconds["upsample"] > 0


def test_fast_at_an_explicit_output_width(media):
    root, video, model, _ = media
    out = root / "wide.mp4"
    assert main(["video", str(video), "--method", "fast", "--model", str(model), "-o", str(out), "--width", "32",
                 "--output-width", "141", "--quiet"]) == 0
    info = probe(out)
    assert (info.width, info.height) == (140, 88)  # even sides, the clip's aspect (71:45 = 140:88.7) kept


def test_optimize_paints_at_the_working_width_and_encodes_at_the_output_width(media):
    root, video, _, style = media
    out = root / "opt.mp4"
    config = VideoConfig(video=video, output=out, style=StyleSpec(styles=(style,)),
                         read=ReadOptions(frames=3, width=32), flow="dis", first_iterations=2, coarse_iterations=0,
                         iterations=1, progress=False, output_width=64)
    result = stylize_video(config)
    assert (probe(out).width, probe(out).height) == (64, 40)
    assert (result.size.width, result.working_size.width) == (64, 32)
    stored = cv2.imread(str(root / "opt.work" / "stylized" / "000001.png"))
    assert stored.shape[1] == 32  # the work directory keeps the working size; only the film is upsampled
    saved = json.loads((root / "opt.work" / "run.json").read_text())
    assert saved["working_size"]["width"] == 32 and saved["size"]["width"] == 64 and saved["peak_rss_mb"] > 0


def test_image_writes_the_photos_own_width_by_default(tmp_path):
    content, style, out = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "o.png"
    cv2.imwrite(str(content), textured_image(51, 77))
    cv2.imwrite(str(style), stripes_image(32, 32))
    assert main(["image", str(content), str(style), "-o", str(out), "--width", "32", "--iterations", "2",
                 "--quiet"]) == 0
    assert cv2.imread(str(out)).shape == (51, 77, 3)  # odd sides kept for an image
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["working_size"]["width"] == 32 and report["size"] == {"height": 51, "width": 77}


@pytest.mark.parametrize(("value", "words"), [("16", "smaller than --width 32"), ("0", "--output-width 0"),
                                              ("100000", "at most")])
def test_bad_output_width_is_one_line(media, capsys, value, words):
    root, video, model, _ = media
    out = root / "bad.mp4"
    code = main(["video", str(video), "--method", "fast", "--model", str(model), "-o", str(out), "--width", "32",
                 "--output-width", value, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1 and not out.exists()


def test_studio_job_writes_its_film_width(media, tmp_path):
    import shutil

    from studio.jobs import JobSpec
    from studio.runner import OUTPUT, run_job

    _, video, model, _ = media
    (tmp_path / "input").mkdir()
    shutil.copy(video, tmp_path / "input" / "clip.mkv")
    for width, want in ((None, 70), (100, 100)):  # the page's 0 / blank is None: the clip's own width
        spec = JobSpec(clip="input/clip.mkv", method="fast", model=str(model), width=32, frames=2, output_width=width,
                       side_by_side=False, evaluate=False)
        run_job(tmp_path, spec)
        assert probe(tmp_path / OUTPUT).width == want
        shutil.rmtree(tmp_path / "work")


def test_image_arbitrary_is_delivered_at_the_photos_own_width(tmp_path):
    content, style, out = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "o.png"
    cv2.imwrite(str(content), textured_image(51, 77))
    cv2.imwrite(str(style), stripes_image(64, 64))
    assert main(["image", str(content), str(style), "--method", "arbitrary", "-o", str(out), "--width", "32"]) == 0
    assert cv2.imread(str(out)).shape == (51, 77, 3)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["size"] == {"height": 51, "width": 77} and report["working_size"]["width"] == 32
    assert report["upsample"] == "guided" and report["timings_seconds"]["upsample"] >= 0
