"""The CPU probe: flags, model and class from /proc/cpuinfo, oneDNN's ISA cap, and the precision default that
follows what the CPU computes natively (bfloat16 is 10x slower without AVX-512 BF16)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from foundation import cpu
from tests.conftest import REPO

AVX2_ONLY = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\n"
             "flags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\n")
BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
AVX512 = "processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fma avx2 avx512f avx512bw avx512vl avx512dq\n"
ZEN4 = AVX512.replace("avx512dq", "avx512dq avx512_bf16")
SSE = "processor\t: 0\nflags\t\t: fpu sse2 sse4_1 avx\n"
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


@pytest.mark.parametrize(("text", "cls"), [(AVX2_ONLY, "avx2"), (AVX512, "avx512"), (ZEN4, "avx512_bf16"),
                                           (SSE, "older"), (ARM, "older"), (BF16, "older")])
def test_cpu_class_from_flags(tmp_path, text, cls):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert cpu.flags_class(cpu.cpu_flags(path)).value == cls
    assert cpu.isa_class(cpu.cpu_flags(path), cap="").value == cls


@pytest.mark.parametrize(("cap", "cls"), [("AVX2", "avx2"), ("avx2_vnni", "avx2"), ("AVX512_CORE", "avx512"),
                                          ("AVX512_CORE_BF16", "avx512_bf16"), ("AVX512_CORE_AMX", "avx512_bf16"),
                                          ("SSE41", "older"), ("ALL", "avx512_bf16"), ("", "avx512_bf16")])
def test_onednn_cap_lowers_the_class_never_raises_it(tmp_path, cap, cls):
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN4)
    assert cpu.isa_class(cpu.cpu_flags(path), cap=cap).value == cls
    path.write_text(AVX2_ONLY)
    assert cpu.isa_class(cpu.cpu_flags(path), cap=cap).value == ("older" if cls == "older" else "avx2")


def test_cpu_model_is_read_or_unknown(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(AVX2_ONLY)
    assert cpu.cpu_model(path) == "AMD EPYC 7B12"
    assert cpu.cpu_model(tmp_path / "absent") == "unknown"


def _default_in_subprocess(override: str, cap: str = "") -> str:
    code = "from transfer.features import DEFAULT_PRECISION; print(DEFAULT_PRECISION.value)"
    env = {"PATH": "/usr/bin:/bin", cpu.OVERRIDE: override, cpu.ISA_CAP: cap}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          cwd=str(REPO)).stdout.strip()


def test_default_precision_follows_the_probe_and_its_override():
    assert _default_in_subprocess("1") == "bfloat16"
    assert _default_in_subprocess("0") == "float32"
    here = "bfloat16" if cpu.flags_class(cpu.cpu_flags()) is cpu.IsaClass.AVX512_BF16 else "float32"
    assert _default_in_subprocess("") == here


def test_avx2_cap_makes_the_default_float32_as_on_an_avx2_cpu():
    assert _default_in_subprocess("", cap="AVX2") == "float32"
