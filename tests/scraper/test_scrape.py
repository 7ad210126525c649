"""``scrape`` end to end against the local Flickr with every kind of fault, and resuming a finished run."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json

import pytest
from PIL import Image

from scraper.flickr import FlickrKeyError
from scraper.manifest import JOURNAL_NAME, load_manifest
from scraper.scrape import scrape
from tests.scraper.conftest import creds, fast_config, write_queries

TEXT_LABEL = {"oil painting": "painting", "watercolor painting": "painting", "landscape": "photo",
              "portrait": "photo"}
BAD = {"102": "bad_image", "103": "bad_image", "104": "bad_image", "201": "failed_download",
       "301": "too_small", "302": "no_url", "304": "failed_download"}


def populate(fake) -> None:
    fake.add_photos("oil painting", 12, 100, upload_from=1_300_000_000)
    fake.add_photos("watercolor painting", 8, 200, upload_from=1_310_000_000)
    fake.add_photos("landscape", 12, 300, upload_from=1_320_000_000)
    fake.add_photos("portrait", 2, 400, upload_from=1_330_000_000)
    fake.add_photo("portrait", 402, 1_330_100_000, seed=300, variant=1)  # a re-upload of 300, re-encoded
    fake.add_photos("portrait", 5, 403, upload_from=1_330_200_000)
    fake.add_photo("oil painting", 101, 1_300_999_999)                   # Flickr repeats a result on a later page
    fake.add_photo("watercolor painting", 105, 1_310_999_999)            # the same photo under another query
    fake.add_photo("landscape", 106, 1_320_999_999)                      # ... and under the other label
    fake.photos["302"].sizes = ()
    fake.photos["303"].sizes = ("url_m",)
    for pid, faults in {102: ["truncated"], 103: ["html"], 104: ["html_as_jpeg"], 201: ["404"],
                        202: ["500", "ok"], 203: ["hang", "ok"], 301: ["tiny"], 304: ["503"]}.items():
        fake.fault_image(pid, *faults)
    fake.api_faults.extend(["fail105", "500", "503"])


def all_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_scrape_saves_exactly_the_valid_unique_images(fake, tmp_path):
    populate(fake)
    out = tmp_path / "data"
    config = fast_config(out, fake, write_queries(tmp_path / "q.toml", per_page=5))
    report = scrape(config, creds(fake))
    df = load_manifest(out / "manifest.csv")

    # every candidate has exactly one row: each (photo, query) pair the fake holds, the page repeat collapsed
    expected_rows = {(p.id, TEXT_LABEL[t], t) for t, ps in fake.by_text.items() for p in ps}
    assert len(df) == len(expected_rows) == 42
    assert set(zip(df["id"], df["label"], df["query"], strict=True)) == expected_rows

    by_id = df.groupby("id")["status"].apply(sorted).to_dict()
    for pid, status in BAD.items():
        assert by_id[pid] == [status], pid
    for pid in ("105", "106"):  # found twice: one candidate judged, the other a duplicate row
        assert len(by_id[pid]) == 2 and "duplicate" in by_id[pid]
        dup = df[(df["id"] == pid) & (df["status"] == "duplicate")]
        assert dup["error"].str.contains("photo id already found").all()
    near = sorted(by_id["300"] + by_id["402"])
    assert near == ["duplicate", "ok"] or near == ["duplicate", "surplus"]
    assert df[df["id"].isin(["300", "402"]) & (df["status"] == "duplicate")]["error"].str.contains(
        "near-identical").all()
    assert df[df["id"] == "303"]["url"].str.endswith("_m.jpg").all()

    # usable = every photo minus the bad ones and one of the near-identical pair, balanced between labels
    usable = df[df["status"].isin(["ok", "surplus"])]
    all_ids = {p.id for ps in fake.by_text.values() for p in ps}
    assert set(usable["id"]) == all_ids - set(BAD) - set(df[(df["id"].isin(["300", "402"])) &
                                                           (df["status"] == "duplicate")]["id"])
    assert usable["id"].is_unique
    ok = df[df["status"] == "ok"]
    counts = ok["label"].value_counts()
    assert counts["painting"] == counts["photo"] == min(usable["label"].value_counts())
    assert set(ok["split"]) == {"train", "val", "test"} and (df[df["status"] != "ok"]["split"] == "").all()

    # exactly the ok images are on disk, complete, and matching their rows
    assert all_files(out / "images") == sorted(p.removeprefix("images/") for p in usable["path"])
    for row in usable.itertuples():
        data = (out / row.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.sha256
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (row.width, row.height))
        assert row.path == f"images/{row.label}/{row.id}.jpg"
        assert row.page_url == f"https://www.flickr.com/photos/12345678@N00/{row.id}" and row.license == "4"

    # reports, retries, and no secret anywhere
    assert not (out / JOURNAL_NAME).exists()
    saved = json.loads((out / "scrape_report.json").read_text())
    assert saved["failed_queries"] == [] and saved["api_retries"] == 3 == report["api_retries"]
    assert saved["labels"]["painting"]["rejected"]["bad_image"] == 3
    for f in out.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert fake.api_key.encode() not in blob and fake.api_secret.encode() not in blob, f


def test_rerun_keeps_rows_and_retries_failures_once_more(fake, tmp_path):
    populate(fake)
    out = tmp_path / "data"
    config = fast_config(out, fake, write_queries(tmp_path / "q.toml", per_page=5))
    scrape(config, creds(fake))
    first = load_manifest(out)
    files_before = {p: (out / p).stat().st_mtime_ns for p in first[first["status"] == "ok"]["path"]}
    fake.fault_image(304, "ok")  # the server recovered
    requests_before = dict(fake.image_requests)
    scrape(config, creds(fake))
    second = load_manifest(out)
    assert len(second) == len(first)
    row = second.set_index(["id", "label", "query"]).loc[("304", "photo", "landscape")]
    assert row["status"] in ("ok", "surplus") and (out / row["path"]).is_file()  # surplus: classes balanced
    assert second.set_index(["id", "label", "query"]).loc[("201", "painting", "watercolor painting"),
                                                           "status"] == "failed_download"
    # only the two failed downloads were fetched again; done images were neither fetched nor rewritten
    fetched = {k: v - requests_before.get(k, 0) for k, v in fake.image_requests.items()}
    assert {k for k, v in fetched.items() if v} == {"201", "304"}
    assert all((out / p).stat().st_mtime_ns == t for p, t in files_before.items())
    kept = second[second["id"].isin(first[first["status"] == "ok"]["id"])]
    assert set(kept["split"]) <= {"train", "val", "test", ""}


def test_target_n_stops_early_and_splits_evenly(fake, tmp_path):
    populate(fake)
    out = tmp_path / "data"
    config = dataclasses.replace(fast_config(out, fake, write_queries(tmp_path / "q.toml", per_page=5)),
                                 n=6, workers=1)
    scrape(config, creds(fake))
    df = load_manifest(out)
    usable = df[df["status"].isin(["ok", "surplus"])]["label"].value_counts()
    assert 3 <= usable["painting"] <= 4 and 3 <= usable["photo"] <= 4  # at most 2 * workers in flight past n
    assert len(df) < 20


def test_bad_key_stops_the_run(fake, tmp_path):
    populate(fake)
    config = fast_config(tmp_path / "data", fake, write_queries(tmp_path / "q.toml"))
    with pytest.raises(FlickrKeyError, match="refused the API key"):
        scrape(config, type(creds(fake))("wrong-key", fake.api_secret))
    assert fake.image_requests == {}
