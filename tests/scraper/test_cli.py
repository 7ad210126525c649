"""The command line: missing credentials, bad key, SIGKILL mid-download then resume, and ``dataset import``."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from paintvid.cli import main
from scraper.fake_flickr import encode_jpeg, make_picture
from scraper.manifest import load_manifest
from tests.scraper.conftest import write_queries


def _env(fake, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLICKR_")}
    env.update(FLICKR_API_KEY=fake.api_key, FLICKR_API_SECRET=fake.api_secret, **extra)
    return env


def _cmd(out, queries, *extra) -> list[str]:
    return [sys.executable, "-m", "paintvid", "scrape", "--out", str(out), "-n", "1000", "--queries", str(queries),
            "--workers", "2", "--timeout", "2", "--min-side", "32", "--quiet", *extra]


def _assert_complete_images(root) -> list[str]:
    """Every non-temporary file under images/ decodes in full; returns their relative paths."""
    names = []
    for f in sorted((root / "images").rglob("*")):
        if f.is_file() and ".tmp" not in f.name:
            with Image.open(io.BytesIO(f.read_bytes())) as im:
                im.load()
            names.append(f.relative_to(root).as_posix())
    return names


def test_missing_credentials_say_what_to_set(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FLICKR_API_KEY", raising=False)
    monkeypatch.delenv("FLICKR_API_SECRET", raising=False)
    assert main(["scrape", "--out", str(tmp_path / "d"), "-n", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert "FLICKR_API_KEY" in err and "FLICKR_API_SECRET" in err and "\n" not in err
    assert not (tmp_path / "d").exists()


def test_bad_key_one_line_exit_2(fake, tmp_path, monkeypatch, capsys):
    fake.add_photos("landscape", 3, 1)
    monkeypatch.setenv("FLICKR_API_KEY", "definitely-wrong-key")
    monkeypatch.setenv("FLICKR_API_SECRET", fake.api_secret)
    code = main(["scrape", "--out", str(tmp_path / "d"), "-n", "4", "--api-url", fake.rest_url, "--quiet",
                 "--queries", str(write_queries(tmp_path / "q.toml")), "--timeout", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("paintvid: Flickr refused the API key") and "\n" not in err
    assert "definitely-wrong-key" not in err and fake.api_secret not in err


def test_sigkill_mid_download_then_resume(fake, tmp_path):
    fake.image_delay = 0.04
    for i, text in enumerate(["oil painting", "watercolor painting", "landscape", "portrait"]):
        fake.add_photos(text, 15, 1000 + 100 * i, upload_from=1_300_000_000 + i * 1_000_000)
    out, queries = tmp_path / "data", write_queries(tmp_path / "q.toml", per_page=10)
    logs = []
    for kill_after in (6, 25):  # two kills at different moments, the second on top of a resumed run
        proc = subprocess.Popen(_cmd(out, queries), env=_env(fake, FLICKR_API_URL=fake.rest_url),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            done = len(list((out / "images").rglob("*.jpg"))) if (out / "images").exists() else 0
            if done >= kill_after:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=10)
        logs += [stdout, stderr]
        assert proc.returncode == -signal.SIGKILL
        _assert_complete_images(out)  # whatever is on disk under its final name is whole

    assert (out / ".manifest.journal.jsonl").exists()  # rows of the killed runs, kept for the resume
    done = subprocess.run(_cmd(out, queries, "--api-url", fake.rest_url), env=_env(fake), capture_output=True,
                          timeout=90)
    logs += [done.stdout, done.stderr]
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    df = load_manifest(out)
    assert len(df) == 60 and df["id"].is_unique
    usable = df[df["status"].isin(["ok", "surplus"])]
    assert len(usable) == 60  # nothing was lost or marked failed by the kills
    assert (df["status"] == "ok").sum() == 60  # 30 per label: balanced already
    assert _assert_complete_images(out) == sorted(usable["path"])  # no orphans, no temp files, nothing missing
    for row in usable.itertuples():
        assert hashlib.sha256((out / row.path).read_bytes()).hexdigest() == row.sha256
    # images finished before a kill are not fetched again: only those in flight (2 workers, 4 queued) are
    assert sum(fake.image_requests.values()) <= 60 + 2 * 4 and max(fake.image_requests.values()) <= 3
    # the key and secret never reach a log line or any file
    for blob in logs + [f.read_bytes() for f in out.rglob("*") if f.is_file()]:
        assert fake.api_key.encode() not in blob and fake.api_secret.encode() not in blob
    assert b"painting" in done.stdout and b"ok" in done.stdout  # the summary


def _write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_dataset_import_validates_and_deduplicates(tmp_path, capsys):
    src = tmp_path / "wikiart"
    _write(src / "a.jpg", encode_jpeg(make_picture(1, 64, 80)))
    _write(src / "sub" / "b.jpg", encode_jpeg(make_picture(2, 80, 64)))
    png = io.BytesIO()
    Image.fromarray(make_picture(3, 70, 70)[:, :, ::-1]).save(png, format="PNG")
    _write(src / "c.png", png.getvalue())
    _write(src / "copy_of_a.jpg", encode_jpeg(make_picture(1, 64, 80)))
    _write(src / "broken.jpg", b"<html>not an image</html>")
    _write(src / "small.jpg", encode_jpeg(make_picture(4, 16, 16)))
    _write(src / "notes.txt", b"ignored")
    out = tmp_path / "data"
    argv = ["dataset", "import", str(src), "--label", "painting", "--out", str(out), "--min-side", "32", "--quiet"]
    assert main(argv) == 0
    assert "painting" in capsys.readouterr().out
    df = load_manifest(out)
    assert len(df) == 6 and df["id"].str.startswith("local-").all() and set(df["label"]) == {"painting"}
    by_name = {u.rsplit("/", 1)[-1]: s for u, s in zip(df["url"], df["status"], strict=True)}
    assert by_name["broken.jpg"] == "bad_image" and by_name["small.jpg"] == "too_small"
    assert sorted([by_name["a.jpg"], by_name["copy_of_a.jpg"]]) == ["duplicate", "ok"]
    assert by_name["b.jpg"] == by_name["c.png"] == "ok"
    assert len(_assert_complete_images(out)) == 3
    assert main(argv) == 0  # importing again adds nothing
    assert len(load_manifest(out)) == 6


@pytest.mark.parametrize("argv, needle", [
    (["dataset", "import", "{d}/nope", "--label", "photo", "--out", "{d}/o"], "nope: not a folder"),
    (["dataset", "import", "{d}", "--label", "photo", "--out", "{d}/o"], "no image files"),
])
def test_dataset_import_errors(tmp_path, capsys, argv, needle):
    assert main([a.format(d=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
