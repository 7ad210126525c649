"""The precision default follows what the CPU computes natively (bfloat16 is 10x slower without AVX-512 BF16)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from foundation import cpu
from tests.conftest import REPO

AVX2_ONLY = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\n"
BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16 sve\n"


@pytest.mark.parametrize(("text", "native"), [(AVX2_ONLY, False), (BF16, True), (ARM, False)])
def test_flags_are_read_from_cpuinfo(tmp_path, text, native):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    flags = cpu.cpu_flags(path)
    assert "avx2" in flags or "asimd" in flags
    assert bool(flags & cpu.BF16_FLAGS) is native


def test_missing_cpuinfo_means_no_flags(tmp_path):
    assert cpu.cpu_flags(tmp_path / "absent") == frozenset()


def _default_in_subprocess(override: str) -> str:
    code = "from transfer.features import DEFAULT_PRECISION; print(DEFAULT_PRECISION.value)"
    env = {"PATH": "/usr/bin:/bin", cpu.OVERRIDE: override}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          cwd=str(REPO)).stdout.strip()


def test_default_precision_follows_the_probe_and_its_override():
    assert _default_in_subprocess("1") == "bfloat16"
    assert _default_in_subprocess("0") == "float32"
    here = "bfloat16" if bool(cpu.cpu_flags() & cpu.BF16_FLAGS) else "float32"
    assert _default_in_subprocess("") == here
