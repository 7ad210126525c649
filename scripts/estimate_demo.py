"""Print how long ``make demo`` (or ``make stylize``) should take on this CPU, from a short probe of the VGG pass.

    python scripts/estimate_demo.py samples/vtest.avi --width 384 --seconds 2 --weights bundled

Prints one line; prints nothing and exits non-zero when anything fails (the run itself goes ahead either way).
"""

from __future__ import annotations

import argparse
import sys

from foundation.cpu import describe_cpu
from media.video_io import ReadOptions, expected_frames, frame_size, probe
from video.estimate import RunPlan, estimate_seconds
from video.estimate import probe as probe_passes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--weights", default="bundled")
    args = parser.parse_args(argv)
    try:
        info = probe(args.video)
        frames = expected_frames(info, ReadOptions(seconds=args.seconds, width=args.width))
        width, height = frame_size(info.width, info.height, args.width)
        plan = RunPlan(frames=frames, height=height, width=width)
        full, coarse = probe_passes(plan, args.weights)
    except Exception:  # noqa: BLE001 - an estimate must never stop the run it describes
        return 1
    cpu = describe_cpu()
    where = f"{cpu['model']} ({cpu['isa_class']} class, {cpu['cores']} cores)"
    estimate = estimate_seconds(plan, full, coarse).describe(where)
    print(f"Expected time for {frames} frames at {width}x{height}: {estimate}"
          f", from a probe of {full:.2f} s per VGG pass here; the first frame's progress bar shows the real pace.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
