"""Speed per CPU class: the CPU record, a benchmark row run under oneDNN's AVX2 cap, and the GEMM peak.

Most users' CPUs have AVX2 and no AVX-512. oneDNN (TensorFlow's CPU kernels) reads ``ONEDNN_MAX_CPU_ISA`` once,
when TensorFlow loads, so an AVX-512 machine stands in for an AVX2 one only in a process that had the variable set
before that: :func:`run_capped` starts such a process for one benchmark function and returns its JSON result.

API (used by the ``vgg``, ``video``, ``fast`` and ``arbitrary`` benchmarks):

- :func:`cpu_record` -- the CPU model, its hardware class, the class oneDNN runs here, cores; put it beside every
  speed figure.
- :func:`run_capped` ``(function, kwargs, isa="AVX2")`` -- ``function`` is ``"benchmarks.module:name"``, a
  top-level function taking JSON-able keyword arguments and returning a JSON-able dict; it runs in a fresh
  Python with ``ONEDNN_MAX_CPU_ISA=isa`` and the result comes back with the child's :func:`cpu_record` under
  ``"cpu"``. :func:`columns` runs one function in this process (``native``) and capped (``avx2``).
- :class:`GemmPeak` -- the best GFLOP/s of plain matrix products in one dtype, measured in the calling process (so
  under its ISA); call :meth:`GemmPeak.measure` between the timed runs so both see the same load.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from foundation.atomic import atomic_write_json
from foundation.cpu import ISA_CAP, IsaClass, cpu_flags, describe_cpu, flags_class

REPO = Path(__file__).resolve().parents[1]
#: The cap that makes an AVX-512 machine run an AVX2 machine's kernels.
AVX2 = "AVX2"
#: What a capped column says about itself in reports.
AVX2_NOTE = ("AVX2 column: this machine with ONEDNN_MAX_CPU_ISA=AVX2 set before TensorFlow loads, so oneDNN runs "
             "the kernels of an AVX2-only CPU (vector width, instruction set; not its clock or caches)")


def cpu_record() -> dict:
    """Return :func:`foundation.cpu.describe_cpu` of this process (model, hardware class, oneDNN's class, cap,
    cores, bfloat16 default)."""
    return describe_cpu()


def native_is_avx2() -> bool:
    """Return whether this CPU is itself AVX2 class (then the capped column is the native one)."""
    return flags_class(cpu_flags()) is IsaClass.AVX2


def run_capped(function: str, kwargs: dict | None = None, isa: str = AVX2, timeout: float | None = None) -> dict:
    """Return ``function(**kwargs)`` (``"package.module:name"``) run in a new Python process with
    ``ONEDNN_MAX_CPU_ISA=isa``, plus that process's :func:`cpu_record` under ``"cpu"``.

    Raises:
        RuntimeError: the child failed; the message ends with the last lines of its stderr.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, ISA_CAP: isa, "TF_CPP_MIN_LOG_LEVEL": "2"}
        cmd = [sys.executable, "-m", "benchmarks.cpu_class", function, json.dumps(kwargs or {}), str(out)]
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not out.is_file():
            tail = " | ".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{function} under {ISA_CAP}={isa} failed (exit {done.returncode}): {tail}")
        return json.loads(out.read_text())


def columns(function: str, kwargs: dict | None = None, isa: str = AVX2) -> dict:
    """Return ``{"native": ..., "avx2": ..., "note": ...}``: ``function(**kwargs)`` in this process and under
    :func:`run_capped`. On an AVX2-class CPU the capped run would be the same, so ``avx2`` is the native result."""
    native = {**_call(function, kwargs or {}), "cpu": cpu_record()}
    if native_is_avx2():
        return {"native": native, "avx2": native, "note": "this CPU is AVX2 class: one run serves both columns"}
    return {"native": native, "avx2": run_capped(function, kwargs, isa), "note": AVX2_NOTE}


def _call(function: str, kwargs: dict) -> dict:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)(**kwargs)


class GemmPeak:
    """Timed matrix products of several (M, K, N) shapes in one dtype; ``best_gflops`` is the best seen so far.

    The first shape of the default is a square 2048 GEMM; callers add shapes like their own work's (e.g. the
    im2col GEMMs of their convolutions), since oneDNN's speed depends on the shape.
    """

    def __init__(self, dtype: str = "float32", shapes: list[tuple[int, int, int]] | None = None):
        import tensorflow as tf  # deferred: run_capped must work before TensorFlow loads in this process

        rng = tf.random.Generator.from_seed(0)
        shapes = shapes or [(2048, 2048, 2048)]
        self.cases = [(tf.cast(rng.normal((m, k)), dtype), tf.cast(rng.normal((k, n)), dtype), 2.0 * m * k * n)
                      for m, k, n in shapes]
        self.mm = tf.function(lambda a, b: tf.matmul(a, b))
        self.best_gflops = 0.0
        #: this round's best GFLOP per CPU-second of the process (all its threads): :meth:`measure` sets it
        self.round_cpu_gflops = 0.0
        for a, b, _ in self.cases:
            self.mm(a, b).numpy()

    def measure(self) -> float:
        """Time every shape once; return the best GFLOP/s so far (wall clock), and keep this round's best GFLOP
        per CPU-second in :attr:`round_cpu_gflops`."""
        self.round_cpu_gflops = 0.0
        for a, b, flops in self.cases:
            wall, cpu = timed(lambda a=a, b=b: self.mm(a, b).numpy())
            self.best_gflops = max(self.best_gflops, flops / wall / 1e9)
            self.round_cpu_gflops = max(self.round_cpu_gflops, flops / max(cpu, 1e-9) / 1e9)
        return self.best_gflops


def timed(run) -> tuple[float, float]:
    """Return (wall seconds, CPU seconds of this process, all threads) of one ``run()``.

    On cores shared with other jobs the wall time depends on their load; the CPU seconds far less, so a ratio of
    two CPU-time rates measured back to back (work against the GEMM) holds when wall-clock best-ofs do not.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def gemm_peak(dtype: str = "float32", repeats: int = 5) -> dict:
    """Return ``{"gemm_peak_gflops", "dtype", "cpu"}``: a square 2048 GEMM's best of ``repeats`` here (a row
    function for :func:`columns`)."""
    peak = GemmPeak(dtype)
    for _ in range(repeats):
        peak.measure()
    return {"gemm_peak_gflops": peak.best_gflops, "dtype": dtype, "cpu": cpu_record()}


def _main(argv: list[str]) -> int:
    """Child side of :func:`run_capped`: ``python -m benchmarks.cpu_class FUNCTION KWARGS_JSON OUT_JSON``."""
    function, kwargs, out = argv
    result = _call(function, json.loads(kwargs))
    atomic_write_json(Path(out), {**result, "cpu": cpu_record()})
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
