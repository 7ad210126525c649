"""A network that is gone ends the run: nothing listening, a server that accepts and never answers, an image host
that times out. One line naming the URL and the last error, exit code 2, the manifest of earlier work intact."""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest

from paintvid.cli import main
from scraper.config import RetryPolicy
from scraper.health import NetworkDown, NetworkWatch
from scraper.manifest import load_manifest
from scraper.scrape import scrape
from tests.scraper.conftest import creds, fast_config, write_queries


def closed_port_url() -> str:
    """Return a REST URL on 127.0.0.1 where nothing listens (a port just released by the kernel)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/rest/"


@pytest.fixture
def hanging_url():
    """A server that accepts connections, reads nothing and never answers; yields its REST URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/services/rest/"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
    assert held, "the scraper never connected"


@pytest.fixture
def finished_run(fake, tmp_path):
    """A dataset folder left by a successful run against the fake: (out, queries, rows, {image: bytes})."""
    fake.add_photos("oil painting", 3, 100, upload_from=1_300_000_000)
    fake.add_photos("landscape", 3, 300, upload_from=1_320_000_000)
    out, queries = tmp_path / "data", write_queries(tmp_path / "q.toml", per_page=5)
    scrape(fast_config(out, fake, queries), creds(fake))
    df = load_manifest(out)
    images = {p: (out / p).read_bytes() for p in df[df["status"] == "ok"]["path"]}
    assert len(images) == 6
    return out, queries, df, images


def assert_intact(out, df, images) -> None:
    after = load_manifest(out)
    assert after[["id", "label", "query", "status", "path"]].equals(df[["id", "label", "query", "status", "path"]])
    assert all((out / p).read_bytes() == b for p, b in images.items())


def test_closed_port_gives_up_after_failures_in_a_row(fake, finished_run):
    out, queries, df, images = finished_run
    url = closed_port_url()
    # the earlier run finished: only new searches call the API, so move the upload window on
    config = dataclasses.replace(fast_config(out, fake, queries), api_url=url, n=20, max_consecutive_failures=5,
                                 max_stall_seconds=600)
    with pytest.raises(NetworkDown) as info:
        scrape(config, creds(fake))
    msg = str(info.value)
    assert msg.startswith(f"{url}: cannot reach it, 5 requests failed in a row")
    assert "Connection refused" in msg and str(out / "manifest.csv") in msg and "\n" not in msg
    assert fake.api_key not in msg and fake.api_secret not in msg
    assert_intact(out, df, images)


def test_server_that_hangs_gives_up_after_the_time_without_progress(fake, tmp_path, hanging_url):
    # a failure budget far too large to trip: the time without progress ends the run
    config = dataclasses.replace(fast_config(tmp_path / "d", fake, write_queries(tmp_path / "q.toml")),
                                 api_url=hanging_url, api_timeout=0.2, max_consecutive_failures=10_000,
                                 max_stall_seconds=1.0, api_retry=RetryPolicy(max_tries=50, base_delay=0.5))
    with pytest.raises(NetworkDown) as info:
        scrape(config, creds(fake))
    msg = str(info.value)
    assert msg.startswith(f"{hanging_url}: cannot reach it, no answer for") and "ReadTimeout" in msg
    assert (tmp_path / "d" / "manifest.csv").is_file()


def test_image_host_timing_out_ends_the_run_naming_an_image_url(fake, tmp_path):
    fake.add_photos("landscape", 12, 300, upload_from=1_320_000_000)
    for pid in range(300, 312):
        fake.fault_image(pid, *["hang"] * 10)
    config = dataclasses.replace(fast_config(tmp_path / "d", fake, write_queries(tmp_path / "q.toml")),
                                 workers=1, max_consecutive_failures=4, max_stall_seconds=600)
    with pytest.raises(NetworkDown, match=r"/img/.*cannot reach it, [4-6] requests failed in a row.*timed out"):
        scrape(config, creds(fake))
    assert load_manifest(tmp_path / "d")["status"].isin(["failed_download", "ok"]).all()


def test_cli_one_line_exit_2_within_the_configured_limit(fake, finished_run, monkeypatch, capsys):
    out, queries, df, images = finished_run
    url = closed_port_url()
    monkeypatch.setenv("FLICKR_API_KEY", fake.api_key)
    monkeypatch.setenv("FLICKR_API_SECRET", fake.api_secret)
    # the CLI's own backoff (2 s, doubling) is cut short by the 1 s limit without progress
    code = main(["scrape", "--out", str(out), "-n", "20", "--api-url", url, "--queries", str(queries), "--quiet",
                 "--timeout", "0.3", "--stall-timeout", "1", "--max-failures", "1000", "--min-side", "32"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"paintvid: {url}: cannot reach it") and "\n" not in err
    assert "Connection refused" in err and "rerun the same command to resume" in err
    assert_intact(out, df, images)


@pytest.mark.parametrize("option", [["--max-failures", "0"], ["--stall-timeout", "-1"]])
def test_cli_refuses_absurd_limits(tmp_path, monkeypatch, capsys, option):
    monkeypatch.setenv("FLICKR_API_KEY", "k")
    monkeypatch.setenv("FLICKR_API_SECRET", "s")
    assert main(["scrape", "--out", str(tmp_path / "d"), "-n", "4", *option]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"paintvid: {option[0]} ") and "\n" not in err
    assert not (tmp_path / "d").exists()


def test_watch_counts_failures_in_a_row_and_time_without_progress():
    now = [0.0]
    watch = NetworkWatch(max_failures=3, max_stall=10.0, clock=lambda: now[0])
    watch.failed("http://a", "boom")
    watch.failed("http://a", "boom")
    watch.succeeded()  # an answer resets the count
    watch.failed("http://b", "late")
    watch.check()
    now[0] = 9.0
    assert watch.remaining() == pytest.approx(1.0)
    watch.check()
    now[0] = 10.5
    with pytest.raises(NetworkDown, match=r"^http://b: cannot reach it, no answer for 10 s .*last error: late$"):
        watch.check()
    watch.succeeded()
    now[0] = 100.0  # quiet but without failures (e.g. waiting for the rate limit): not a stall
    watch.check()
    for _ in range(3):
        watch.failed("http://c", "refused")
    with pytest.raises(NetworkDown, match="3 requests failed in a row"):
        watch.check()


def test_http_5xx_on_every_try_ends_the_run(fake, tmp_path):
    fake.add_photos("landscape", 3, 300, upload_from=1_320_000_000)
    fake.api_faults.extend(["503", "500"] * 50)
    config = dataclasses.replace(fast_config(tmp_path / "d", fake, write_queries(tmp_path / "q.toml")),
                                 max_consecutive_failures=6, max_stall_seconds=600)
    with pytest.raises(NetworkDown, match=r"cannot reach it, 6 requests failed in a row; last error: HTTP 50[03]"):
        scrape(config, creds(fake))
    assert fake.image_requests == {}
