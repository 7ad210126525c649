"""The studio served for real: its two named endpoints through gradio_client, and the page in headless Chromium.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) driven by Playwright's Python
package: nothing is downloaded. Set ``STUDIO_SCREENSHOT=docs/studio.png`` to also write the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import cv2
import pytest
from playwright.sync_api import expect, sync_playwright

from media.video_io import ReadOptions, iter_frames, probe

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TINY_JOB = {"width": 64, "frames": 3, "first_iterations": 5, "iterations": 3}


def test_api_preview_and_stylize_with_gradio_client(studio_server, media, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    url, studio, outside = studio_server
    client = Client(url, verbose=False)
    image, message = client.predict(handle_file(str(media["clip"])), handle_file(str(media["painting"])),
                                    frame=2, preview_width=64, preview_iterations=5, api_name="/preview")
    assert cv2.imread(image).shape == (48, 64, 3)
    assert message.startswith("Frame 2 at 64 px, 5 iterations")

    import transfer.arbitrary.weights_file as weights_file
    from transfer.arbitrary.network import ArbitrarySpec, build_arbitrary, save_arbitrary

    # the page's arbitrary method runs the default weights: a tiny untrained file here (the server is this process)
    monkeypatch.setattr(weights_file, "WEIGHTS_DIR", tmp_path)
    save_arbitrary(build_arbitrary(ArbitrarySpec(channels=(16, 8, 8), style_size=64)),
                   tmp_path / "arbitrary_default_test.npz")
    image, message = client.predict(handle_file(str(media["clip"])), handle_file(str(media["painting"])),
                                    frame=1, preview_width=32, method="arbitrary", strength=0.5, api_name="/preview")
    assert cv2.imread(image).shape == (24, 32, 3)
    assert message.startswith("Frame 1 at 32 px, any-painting network")

    result = client.predict(handle_file(str(media["clip"])), handle_file(str(media["painting"])), **TINY_JOB,
                            api_name="/stylize")
    video, side_by_side, status = result[:3]
    info = probe(video)
    assert (info.frame_count, info.width, info.height) == (3, 64, 48)
    assert probe(side_by_side).width == 128
    assert "done in" in status
    job = studio.manager.list_jobs()[0]
    assert job["status"] == "done" and job["spec"]["frames"] == 3 and job["spec"]["iterations"] == 3
    assert (Path(studio.config.jobs_dir) / job["id"] / "work" / "evaluation.json").is_file()

    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=r"clip \(notes.mp4\): not a video"):
        client.predict(handle_file(str(media["text"])), handle_file(str(media["painting"])), api_name="/preview")
    assert len(studio.manager.list_jobs()) == 1  # the bad call started nothing
    assert outside == []  # neither the server nor the client tried to reach another machine


@pytest.fixture
def browser_page(tmp_path):
    """Yield (page, list of requests to other hosts) in a fresh headless Chromium profile."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package; .ci/run installs it)")
    outside: list[str] = []

    def only_localhost(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost", None):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000})
        context.route("**/*", only_localhost)
        try:
            yield context.new_page(), outside
        finally:
            context.close()


def _new_job(studio, jobs_before: int, timeout: float = 180.0) -> str:
    """Return the id of the job the page just submitted (generous: a busy 2-core machine queues the click behind
    the preview that is still running)."""
    deadline = time.monotonic() + timeout
    while len(jobs := studio.manager.list_jobs()) == jobs_before:
        assert time.monotonic() < deadline, "the page submitted no job"
        time.sleep(0.1)
    return jobs[0]["id"]


def _click_until_a_job_starts(page, studio, jobs_before: int, tries: int = 4) -> str:
    """Click "Paint the video" until the studio has a new job; return its id.

    On a loaded machine a click that lands while the page is still applying the number inputs' changes was seen to
    be dropped (no request reached the server), after the preview in the same session; a user clicks again.
    """
    for attempt in range(tries):
        page.locator("#paint-button").click()
        try:
            return _new_job(studio, jobs_before, timeout=45.0)
        except AssertionError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def _fill_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    expect(box).to_be_editable()
    box.fill(str(value))
    box.press("Tab")
    expect(box).to_have_value(str(value))


def test_page_previews_a_frame_and_paints_a_tiny_video(studio_server, media, browser_page, tmp_path):
    url, studio, server_outside = studio_server
    page, outside = browser_page
    jobs_before = len(studio.manager.list_jobs())
    page.goto(url)
    expect(page.locator("#method")).to_contain_text("any painting, seconds not minutes, no training")
    page.locator("#method").get_by_label("arbitrary").check()
    expect(page.locator("#strength")).to_be_visible()
    expect(page.locator("#stroke-scale")).to_be_visible()
    expect(page.locator("#keyframes")).to_be_hidden()
    page.locator("#method").get_by_label("keyframes").check()
    expect(page.locator("#keyframes")).to_be_visible()
    expect(page.locator("#keyframes")).to_contain_text("files named by frame number")
    expect(page.locator("#strength")).to_be_hidden()
    page.locator("#method").get_by_label("optimize").check()
    expect(page.locator("#strength")).to_be_hidden()
    expect(page.locator("#stroke-scale")).to_be_hidden()
    expect(page.locator("#keyframes")).to_be_hidden()
    page.locator("#clip input[type=file]").set_input_files(str(media["clip"]))
    page.locator("#clip-info").get_by_text("6 frames, 64x48").wait_for(timeout=30_000)
    page.locator("#painting input[type=file]").set_input_files(str(media["painting"]))
    page.locator("#painting img").wait_for(timeout=30_000)

    _fill_number(page, "preview-width", 64)
    _fill_number(page, "preview-iterations", 5)
    page.locator("#preview-button").click()
    page.locator("#preview-image img").wait_for(timeout=60_000)
    page.locator("#preview-info").get_by_text("at 64 px, 5 iterations").wait_for(timeout=10_000)

    for elem_id, value in (("width", 64), ("frames", 3), ("first-iterations", 5), ("iterations", 3)):
        _fill_number(page, elem_id, value)
    job_id = _click_until_a_job_starts(page, studio, jobs_before)
    status = page.locator("#job-status")
    expect(status).to_contain_text(job_id, timeout=30_000)  # the page follows the new job, not the earlier one
    expect(status).to_contain_text("done in", timeout=120_000)
    page.locator("#result-video video").wait_for(timeout=30_000)
    time.sleep(0.5)  # let the player draw its first frame for the screenshot
    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=True)
    assert cv2.imread(str(shot)).shape[1] == 1280
    if os.environ.get("STUDIO_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["STUDIO_SCREENSHOT"])

    page.goto(url)  # a page opened later (another browser, after closing this one) shows the job again
    expect(page.locator("#job-status")).to_contain_text(job_id, timeout=30_000)
    page.locator("#result-video video").wait_for(timeout=30_000)

    newest = studio.manager.get(job_id)
    assert len(studio.manager.list_jobs()) == jobs_before + 1 and newest["status"] == "done"
    assert newest["spec"]["width"] == 64 and newest["spec"]["frames"] == 3
    assert outside == []  # the page asked nothing of the internet
    assert server_outside == []


def test_api_stylize_with_painted_keyframes(studio_server, media, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, studio, outside = studio_server
    frames = [f for _, f in iter_frames(media["clip"], ReadOptions())]
    painted = []
    for number in (1, 6):  # upload names hold the frame number; the studio stores them under its own names
        painted.append(tmp_path / f"my painting {number:04d}.png")
        cv2.imwrite(str(painted[-1]), 255 - frames[number - 1])
    client = Client(url, verbose=False)
    jobs_before = len(studio.manager.list_jobs())
    with pytest.raises(AppError, match="preview: not offered for painted keyframes"):
        client.predict(handle_file(str(media["clip"])), None, method="keyframes", api_name="/preview")
    result = client.predict(handle_file(str(media["clip"])), None, method="keyframes", width=64,
                            keyframes=[handle_file(str(p)) for p in painted], api_name="/stylize")
    info = probe(result[0])
    assert (info.frame_count, info.width, info.height) == (6, 64, 48)
    assert "done in" in result[2] and "Painted keyframes: 6 frames" in result[4]
    job = studio.manager.list_jobs()[0]
    assert len(studio.manager.list_jobs()) == jobs_before + 1
    assert job["spec"]["keyframes"] == ["input/keyframe_0001.png", "input/keyframe_0006.png"]
    assert outside == []
