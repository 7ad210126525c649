"""The image table: manifest rows, corrupt files skipped with a reason, seeded grouped stratified splits."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pandas as pd
import pytest

from classifier.data import SplitFractions, group_near_duplicates, load_dataset, split_groups
from foundation.errors import UserError
from tests.classifier.synthetic import painting, write_manifest, write_tree


def test_manifest_uses_ok_rows_and_skips_corrupt_with_reason(tmp_path, caplog):
    manifest = write_manifest(tmp_path, 5, size=40, corrupt=2, failed=1)
    with caplog.at_level(logging.WARNING, logger="classifier.data"):
        ds = load_dataset(manifest)
    assert len(ds.table) == 10  # 5 + 5 good rows; the failed row is not even looked at
    assert {s["path"].split("/")[-1] for s in ds.skipped} == {"broken_0.jpg", "broken_1.jpg"}
    assert all("cannot decode" in s["reason"] for s in ds.skipped)
    logged = [r.getMessage() for r in caplog.records]
    assert any("broken_0.jpg" in m and "cannot decode" in m for m in logged)
    assert not any("missing_0" in m for m in logged)
    assert all(p.startswith(str(tmp_path)) for p in ds.table["path"])
    # the manifest's own split is kept
    raw = pd.read_csv(manifest).set_index("id")
    assert ds.table.loc[ds.table["path"].str.endswith("painting_003.png"), "split"].item() == raw.loc["painting3",
                                                                                                          "split"]
    assert ds.counts()["train"] == {"painting": 3, "photo": 3}


def test_folder_tree_split_is_stratified_grouped_and_seeded(tmp_path):
    root = write_tree(tmp_path, 20, size=40)
    # a near-duplicate: the same "artwork" at another size must land in the same split as its original
    original = painting(40, 3)
    cv2.imwrite(str(root / "painting" / "zz_copy.png"), cv2.resize(original, (64, 64), interpolation=cv2.INTER_CUBIC))
    a = load_dataset(root, seed=1)
    b = load_dataset(root, seed=1)
    c = load_dataset(root, seed=2)
    assert a.table["split"].tolist() == b.table["split"].tolist()
    assert a.table["split"].tolist() != c.table["split"].tolist()
    for split in ("train", "val", "test"):
        part = a.table[a.table["split"] == split]
        assert set(part["label"]) == {0, 1}
    by_name = a.table.set_index(a.table["path"].str.rsplit("/", n=1).str[-1])
    assert by_name.loc["zz_copy.png", "group"] == by_name.loc["painting_003.png", "group"]
    assert by_name.loc["zz_copy.png", "split"] == by_name.loc["painting_003.png", "split"]
    assert 0.5 < (a.table["split"] == "train").mean() < 0.85


def test_group_near_duplicates_hand_made_hashes():
    h = np.array([0x0, 0b111, 0xFFFF_0000_0000_0000, 0xFFFF_0000_0000_00FF, 0xFF], dtype=np.uint64)
    groups = group_near_duplicates(h, max_distance=4)
    assert groups[0] == groups[1]  # 3 bits apart
    assert groups[2] != groups[3] and groups[2] != groups[0]  # 8 bits apart: not within 4 ...
    groups8 = group_near_duplicates(h, max_distance=8)
    assert groups8[2] == groups8[3]  # ... but within 8
    assert groups8[0] == groups8[1] == groups8[4]  # 0 - 0xFF is 8 bits: chained with 0b111


def test_split_groups_keeps_groups_whole():
    labels = np.array([0, 0, 1, 1] * 10)
    groups = np.repeat(np.arange(20), 2)
    split = split_groups(labels, groups, seed=0, fractions=SplitFractions(0.2, 0.2))
    for g in range(20):
        assert len(set(split[groups == g])) == 1


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "nope.csv", "no such file"),
    (lambda d: (d / "m.csv").write_text("label,path\npainting,a.jpg\n") and d / "m.csv", "lacks column(s) status"),
    (lambda d: (d / "painting").mkdir() or d, "photo/ missing"),
])
def test_bad_sources_raise_user_error(tmp_path, make, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(make(tmp_path))


def test_one_class_only_is_refused(tmp_path):
    write_tree(tmp_path, 3, size=40)
    for f in (tmp_path / "photo").iterdir():
        f.unlink()
    with pytest.raises(UserError, match="no usable 'photo' images"):
        load_dataset(tmp_path)
