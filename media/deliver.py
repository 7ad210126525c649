"""Deliver an image painted at the working width at the output width: ``deliver_image(...)`` rewrites the painted
file at the output size (guided by the full-resolution photo, :mod:`media.upsample`) and its JSON report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from foundation.atomic import atomic_write_json
from media.image_io import read_image, write_image
from media.upsample import DEFAULT_METHOD, UpsampleMethod, upsample_to_width


def deliver_image(output: str | Path, content: str | Path, output_width: int | None,
                  method: UpsampleMethod | str = DEFAULT_METHOD) -> dict:
    """Upsample the image at ``output`` to ``output_width`` guided by ``content``; return the updated report.

    The report beside ``output`` (``.json``) gains ``working_size`` (what was painted), ``size`` becomes the output
    size and ``timings_seconds.upsample`` the time taken. Nothing changes when ``output_width`` is None or the
    painted width.
    """
    output = Path(output)
    report_path = output.with_suffix(".json")
    report = json.loads(report_path.read_text()) if report_path.is_file() else {"output": str(output)}
    painted = read_image(output)
    started = time.perf_counter()
    final = upsample_to_width(painted, read_image(content), output_width, method)
    seconds = time.perf_counter() - started
    report["working_size"] = {"height": int(painted.shape[0]), "width": int(painted.shape[1])}
    report["size"] = {"height": int(final.shape[0]), "width": int(final.shape[1])}
    if final is not painted:
        write_image(output, final)
        report["upsample"] = UpsampleMethod(method).value
        report.setdefault("timings_seconds", {})["upsample"] = seconds
        atomic_write_json(report_path, report)
    return report
