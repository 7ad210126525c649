"""Manifest rows, journal replay after a kill, orphan clean-up, and the sticky stratified split."""

from __future__ import annotations

import pandas as pd
import pytest

from foundation.errors import UserError
from scraper.config import ImageRules, SplitConfig
from scraper.fake_flickr import encode_jpeg, make_picture
from scraper.manifest import COLUMNS, JOURNAL_NAME, ManifestStore, load_manifest
from scraper.records import Candidate, Status
from scraper.split import apply_split
from scraper.validate import normalize_image

RULES = ImageRules(min_side=32, max_side=128)


def _rows(n_painting: int, n_photo: int, extra: list[dict] | None = None) -> pd.DataFrame:
    rows = [{"id": f"p{i:04d}", "label": "painting", "status": "ok", "split": ""} for i in range(n_painting)]
    rows += [{"id": f"f{i:04d}", "label": "photo", "status": "ok", "split": ""} for i in range(n_photo)]
    return pd.DataFrame(rows + (extra or []))


def test_split_is_stratified_balanced_and_seeded():
    df = _rows(100, 140, [{"id": "x", "label": "photo", "status": "bad_image", "split": ""}])
    out = apply_split(df, SplitConfig(seed=3))
    ok = out[out["status"] == "ok"]
    assert ok["label"].value_counts().to_dict() == {"painting": 100, "photo": 100}
    assert (out[out["status"] == "surplus"]["split"] == "").all() and (out["status"] == "surplus").sum() == 40
    assert out.loc[out["id"] == "x", "split"].item() == ""
    table = pd.crosstab(ok["label"], ok["split"])
    assert table.loc["painting"].to_dict() == {"test": 10, "train": 80, "val": 10}
    assert table.loc["photo"].to_dict() == {"test": 10, "train": 80, "val": 10}
    again = apply_split(df, SplitConfig(seed=3))
    assert again.equals(out)
    other = apply_split(df, SplitConfig(seed=4))
    assert not other["split"].equals(out["split"])


def test_split_keeps_existing_assignments_and_tops_up():
    first = apply_split(_rows(50, 50), SplitConfig(seed=0))
    grown = pd.concat([first, _rows(0, 0, [{"id": f"n{i}", "label": lb, "status": "ok", "split": ""}
                                           for i in range(10) for lb in ("painting", "photo")])], ignore_index=True)
    out = apply_split(grown, SplitConfig(seed=0))
    assert out["split"].iloc[:100].tolist() == first["split"].tolist()  # nobody moves between splits
    ok = out[out["status"] == "ok"]
    for label in ("painting", "photo"):
        counts = ok[ok["label"] == label]["split"].value_counts().to_dict()
        assert counts == {"train": 48, "val": 6, "test": 6}


def test_split_of_a_handful_and_without_balance():
    out = apply_split(_rows(2, 1), SplitConfig(seed=0, balance=False))
    assert (out["status"] == "ok").all() and set(out["split"]) <= {"train", "val", "test"}
    only_one_label = apply_split(_rows(5, 0), SplitConfig(seed=0))
    assert (only_one_label["status"] == "ok").all()  # nothing to balance against


def _candidate(i: int, label: str = "painting", query: str = "q") -> Candidate:
    return Candidate(id=str(i), label=label, query=query, url=f"http://h/{i}.jpg", owner="o")


def _image(seed: int):
    return normalize_image(encode_jpeg(make_picture(seed, 64, 80)), RULES)


def test_store_dedups_ids_and_pictures_and_replays_journal(tmp_path):
    store = ManifestStore(tmp_path, RULES, SplitConfig(), checkpoint_every=1000)
    assert store.claim(_candidate(1))
    assert not store.claim(_candidate(1, "photo", "other"))  # same id elsewhere: a duplicate row, not fetched
    assert not store.claim(_candidate(1))                    # same candidate again (page drift): no new row
    assert store.admit(_candidate(1), Status.OK, image=_image(1)) == Status.OK
    assert store.claim(_candidate(2, "photo"))
    assert store.admit(_candidate(2, "photo"), Status.OK, image=_image(1)) == Status.DUPLICATE  # same picture
    assert store.claim(_candidate(3))
    assert store.admit(_candidate(3), Status.FAILED_DOWNLOAD, "HTTP 503") == Status.FAILED_DOWNLOAD
    # a kill now: no manifest.csv yet, only the journal, whose last line is torn
    store._journal.write('{"id": "9", "label": "pain')
    store._journal.flush()
    assert not (tmp_path / "manifest.csv").exists()
    (tmp_path / "images" / "photo").mkdir(parents=True)
    (tmp_path / "images" / "photo" / "77.jpg").write_bytes(b"orphan")
    (tmp_path / "images" / "painting" / ".1.abcd.tmp.jpg").write_bytes(b"half")

    again = ManifestStore(tmp_path, RULES, SplitConfig())
    statuses = {(k[0], k[1]): r["status"] for k, r in again.rows.items()}
    assert statuses == {("1", "painting"): "ok", ("1", "photo"): "duplicate", ("2", "photo"): "duplicate",
                        ("3", "painting"): "failed_download"}
    assert [c.id for c in again.retry_candidates()] == ["3"]
    assert again.claim(_candidate(3), retry=True)
    assert sorted(p.name for p in (tmp_path / "images").rglob("*") if p.is_file()) == ["1.jpg"]
    df = again.close()
    assert not (tmp_path / JOURNAL_NAME).exists()
    loaded = load_manifest(tmp_path)
    assert list(loaded.columns) == list(COLUMNS) and len(loaded) == len(df) == 4
    ok = loaded[loaded["status"] == "ok"].iloc[0]
    assert ok["path"] == "images/painting/1.jpg" and ok["split"] in ("train", "val", "test")
    assert ok["width"] == 80 and str(loaded["width"].dtype) == "Int64"
    assert ok["page_url"] == "" and len(ok["phash"]) == 16
    dup = loaded[(loaded["id"] == "2")].iloc[0]
    assert "near-identical to image 1" in dup["error"] and dup["path"] == "" and dup["split"] == ""


def test_missing_file_of_ok_row_is_fetched_again(tmp_path):
    store = ManifestStore(tmp_path, RULES, SplitConfig())
    store.claim(_candidate(5))
    store.admit(_candidate(5), Status.OK, image=_image(5))
    store.close()
    (tmp_path / "images" / "painting" / "5.jpg").unlink()
    again = ManifestStore(tmp_path, RULES, SplitConfig())
    assert [c.id for c in again.retry_candidates()] == ["5"]
    assert again.ok_count("painting") == 0


def test_load_manifest_errors(tmp_path):
    with pytest.raises(UserError, match="no such manifest"):
        load_manifest(tmp_path / "none.csv")
    (tmp_path / "m.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="m.csv: not a scraper manifest"):
        load_manifest(tmp_path / "m.csv")
