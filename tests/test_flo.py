"""Middlebury .flo reading and writing: round trip, exact byte layout, refusal of bad files."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from foundation.errors import UserError
from media.flo import FLO_MAGIC, read_flo, write_flo
from tests.conftest import shared_data


def test_round_trip_is_exact(tmp_path, rng):
    flow = rng.normal(0, 20, size=(7, 11, 2)).astype(np.float32)
    flow[0, 0] = (1e10, -1e10)  # Middlebury's "unknown" values survive too
    path = write_flo(tmp_path / "sub" / "a.flo", flow)
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    np.testing.assert_array_equal(back, flow)
    assert [p.name for p in path.parent.iterdir()] == ["a.flo"]  # no temporary file left behind


def test_byte_layout_is_middlebury(tmp_path):
    # 2 rows x 3 columns; u = column index, v = 10 * row index, so the interleaving order is visible
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = np.arange(3)[None, :]
    flow[..., 1] = 10 * np.arange(2)[:, None]
    data = write_flo(tmp_path / "b.flo", flow).read_bytes()
    assert data[:4] == b"PIEH" and struct.unpack("<f", data[:4])[0] == FLO_MAGIC
    assert struct.unpack("<ii", data[4:12]) == (3, 2)  # width then height
    values = struct.unpack("<12f", data[12:])
    assert values == (0, 0, 1, 0, 2, 0, 0, 10, 1, 10, 2, 10)
    assert len(data) == 12 + 2 * 3 * 2 * 4


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "not_flow.flo"
    path.write_bytes(struct.pack("<fii", 1.0, 2, 2) + bytes(32))
    with pytest.raises(UserError, match=r"not_flow\.flo.*magic"):
        read_flo(path)


@pytest.mark.parametrize("cut", [0, 5, 12, 12 + 8 * 6 - 1])
def test_truncated_file_names_the_file(tmp_path, cut):
    full = write_flo(tmp_path / "full.flo", np.ones((2, 3, 2), np.float32)).read_bytes()
    path = tmp_path / "cut.flo"
    path.write_bytes(full[:cut])
    with pytest.raises(UserError, match=r"cut\.flo.*truncated"):
        read_flo(path)


def test_impossible_header_size_and_missing_file(tmp_path):
    path = tmp_path / "huge.flo"
    path.write_bytes(struct.pack("<fii", FLO_MAGIC, -4, 3))
    with pytest.raises(UserError, match=r"huge\.flo.*impossible size"):
        read_flo(path)
    with pytest.raises(UserError, match=r"missing\.flo: no such"):
        read_flo(tmp_path / "missing.flo")


def test_write_refuses_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="H, W, 2"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 3), np.float32))
    assert not (tmp_path / "x.flo").exists()


@pytest.mark.shared_data
def test_reads_middlebury_ground_truth():
    flow = read_flo(shared_data("flow", "rodosingh+CV-IIITH", "ground-truth-flow", "RubberWhale", "flow10.flo"))
    assert flow.shape == (388, 584, 2)
    known = np.all(np.abs(flow) < 1e9, axis=-1)
    assert 0.5 < known.mean() < 1.0  # RubberWhale has occluded pixels marked unknown
    assert np.abs(flow[known]).max() < 20  # its motions are small
