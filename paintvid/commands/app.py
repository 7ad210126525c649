"""``paintvid app [--host 127.0.0.1] [--port 7860]``: the local web studio (preview, jobs, results) in a browser."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from foundation.paths import check_output_dir

# the studio's defaults (studio.config), written out so that listing the subcommands does not import the studio
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def register(sub) -> None:
    p = sub.add_parser("app", help="start the web studio on this machine and print its URL", description=__doc__)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the "
                        "network, with no login)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 7860; 0 = any free port)")
    p.add_argument("--out", default="out", help="jobs go to OUT/jobs/<id>/, previews to OUT/previews/")
    p.add_argument("--samples", default="samples", help="folder of sample clips and paintings (make samples)")
    p.add_argument("--models", default="models", help="folder of fast-mode models and backbone.weights.h5")
    p.add_argument("--weights", default="auto",
                   help="VGG16 weights: auto (MODELS/backbone.weights.h5 if present, else bundled), bundled, "
                        "imagenet or a path")
    p.add_argument("--max-upload-mb", type=float, default=500, help="largest upload accepted, in MB")
    p.add_argument("--max-frames", type=int, default=3000, help="most frames one job may stylise")
    p.add_argument("--max-width", type=int, default=1024, help="widest output a job may ask for, in pixels")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    check_output_dir(args.out, what="studio folder")  # jobs and previews go there: refuse it before the server starts
    # Gradio must not reach the internet: no telemetry, no version check (set before Gradio is imported)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from studio.config import StudioConfig  # deferred like the rest of the studio: Gradio loads only here
    from studio.uploads import UploadLimits

    limits = UploadLimits(max_bytes=int(args.max_upload_mb * 2**20), max_frames=args.max_frames,
                          max_width=args.max_width)
    config = StudioConfig(out=Path(args.out), samples=Path(args.samples), models=Path(args.models),
                          weights=args.weights, limits=limits, host=args.host, port=args.port)
    from studio.app import serve

    serve(config)
