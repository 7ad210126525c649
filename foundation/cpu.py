"""What the CPU can do natively, read once from ``/proc/cpuinfo`` (no TensorFlow).

bfloat16 convolutions pay off only where the CPU computes them natively (AVX-512 BF16 or AMX): on this project's
AVX-512 BF16 machines they ran the optimisation path 1.9x faster than float32, while on an AVX2-only CPU (AMD
EPYC, 2 December 2026) a VGG16 forward + backward pass at 96x128 took 2.21 s in bfloat16 against 0.23 s in float32
(9.8x slower; the forward pass alone was even). The precision defaults follow :func:`native_bfloat16`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

#: ``/proc/cpuinfo`` flags of native bfloat16 arithmetic.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: Environment variable that overrides the probe: ``1`` (bfloat16 is native) or ``0`` (it is not).
OVERRIDE = "PAINTVID_NATIVE_BF16"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """Return the feature flags of the first CPU listed in ``cpuinfo`` (empty where the file is absent)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def native_bfloat16() -> bool:
    """Return whether this CPU computes bfloat16 natively (:data:`BF16_FLAGS`), unless :data:`OVERRIDE` says."""
    override = os.environ.get(OVERRIDE, "").strip()
    if override in ("0", "1"):
        return override == "1"
    return bool(cpu_flags() & BF16_FLAGS)
