"""What the CPU can do natively, read once from ``/proc/cpuinfo`` (no TensorFlow), and what oneDNN may use of it.

bfloat16 convolutions pay off only where the CPU computes them natively (AVX-512 BF16 or AMX): on this project's
AVX-512 BF16 machines they ran the optimisation path 1.9x faster than float32, while on an AVX2-only CPU (AMD
EPYC, 2 December 2026) a VGG16 forward + backward pass at 96x128 took 2.21 s in bfloat16 against 0.23 s in float32
(9.8x slower; the forward pass alone was even). The precision defaults follow :func:`native_bfloat16`.

oneDNN, TensorFlow's CPU kernel library, reads ``ONEDNN_MAX_CPU_ISA`` when it starts: set to ``AVX2`` on an AVX-512
machine it runs the kernels an AVX2-only CPU would run. :func:`isa_class` folds that cap in, so an AVX-512 machine
capped at AVX2 is probed as what it stands in for.
"""

from __future__ import annotations

import functools
import os
from enum import StrEnum
from pathlib import Path

#: ``/proc/cpuinfo`` flags of native bfloat16 arithmetic.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: Environment variable that overrides the probe: ``1`` (bfloat16 is native) or ``0`` (it is not).
OVERRIDE = "PAINTVID_NATIVE_BF16"
#: oneDNN's cap on the instruction sets it uses (``DNNL_MAX_CPU_ISA`` is its older name).
ISA_CAP = "ONEDNN_MAX_CPU_ISA"
_ISA_CAP_OLD = "DNNL_MAX_CPU_ISA"


class IsaClass(StrEnum):
    """The CPU classes the speed figures are given for, from the oldest."""

    OLDER = "older"  # no AVX2 + FMA: oneDNN's SSE4.1 / AVX kernels
    AVX2 = "avx2"  # AVX2 + FMA: most laptops, desktops and cloud VMs
    AVX512 = "avx512"  # AVX-512 (F, BW, VL, DQ): float32 in 512-bit vectors, no native bfloat16
    AVX512_BF16 = "avx512_bf16"  # AVX-512 BF16 or AMX as well: bfloat16 convolutions natively


_ORDER = tuple(IsaClass)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """Return the feature flags of the first CPU listed in ``cpuinfo`` (empty where the file is absent)."""
    return frozenset(_first_value(cpuinfo, ("flags", "Features")).split())


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """Return the first CPU's model name in ``cpuinfo`` (``"unknown"`` where it is absent)."""
    return _first_value(cpuinfo, ("model name", "Model", "Hardware")).strip() or "unknown"


def _first_value(cpuinfo: str | Path, keys: tuple[str, ...]) -> str:
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value
    return ""


def flags_class(flags: frozenset[str]) -> IsaClass:
    """Return the CPU class of a set of ``/proc/cpuinfo`` flags (what the hardware has, no cap)."""
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return IsaClass.AVX512_BF16 if flags & BF16_FLAGS else IsaClass.AVX512
    if {"avx2", "fma"} <= flags:
        return IsaClass.AVX2
    return IsaClass.OLDER


def cap_class(cap: str) -> IsaClass | None:
    """Return the class an ``ONEDNN_MAX_CPU_ISA`` value allows at most (None: no cap, e.g. empty or ``ALL``)."""
    value = cap.strip().upper()
    if value in ("", "ALL", "DEFAULT"):
        return None
    if "AMX" in value or "BF16" in value or value.startswith("AVX10"):
        return IsaClass.AVX512_BF16
    if value.startswith("AVX512"):
        return IsaClass.AVX512
    if value.startswith("AVX2"):
        return IsaClass.AVX2
    return IsaClass.OLDER


def isa_class(flags: frozenset[str] | None = None, cap: str | None = None) -> IsaClass:
    """Return the class of kernels oneDNN runs here: the CPU's (``flags``, default this machine's) under the
    ``cap`` (default the ``ONEDNN_MAX_CPU_ISA`` environment variable)."""
    own = flags_class(cpu_flags() if flags is None else flags)
    if cap is None:
        cap = os.environ.get(ISA_CAP) or os.environ.get(_ISA_CAP_OLD, "")
    limit = cap_class(cap)
    return own if limit is None else min(own, limit, key=_ORDER.index)


def describe_cpu() -> dict[str, str | int | bool]:
    """Return the CPU record every speed figure carries: model, hardware class, the class oneDNN runs under its
    cap, the cap itself ("" if none), cores this process may use, and whether bfloat16 is the default."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {"model": cpu_model(), "hardware_class": flags_class(cpu_flags()).value, "isa_class": isa_class().value,
            "onednn_max_cpu_isa": os.environ.get(ISA_CAP, ""), "cores": cores, "native_bfloat16": native_bfloat16()}


@functools.cache
def native_bfloat16() -> bool:
    """Return whether oneDNN computes bfloat16 natively here (:data:`BF16_FLAGS`, and no ``ONEDNN_MAX_CPU_ISA``
    below them), unless :data:`OVERRIDE` says."""
    override = os.environ.get(OVERRIDE, "").strip()
    if override in ("0", "1"):
        return override == "1"
    return isa_class() is IsaClass.AVX512_BF16
