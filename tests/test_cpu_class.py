"""A benchmark row runs under oneDNN's AVX2 cap in a fresh process and comes back with that process's CPU record."""

from __future__ import annotations

import pytest

from benchmarks import cpu_class


def test_capped_row_reports_the_cap_and_the_avx2_class():
    record = cpu_class.run_capped("benchmarks.cpu_class:cpu_record")
    assert record["onednn_max_cpu_isa"] == "AVX2"
    assert record["isa_class"] in ("avx2", "older")  # never above the cap
    assert record["cpu"]["native_bfloat16"] is False
    assert record["model"] == cpu_class.cpu_record()["model"]


def test_a_failing_row_raises_with_its_error():
    with pytest.raises(RuntimeError, match="no_such_function"):
        cpu_class.run_capped("benchmarks.cpu_class:no_such_function")
