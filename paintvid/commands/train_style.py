"""``paintvid train-style STYLE --out MODEL.keras --content DIR_OR_VIDEO...``: train a fast style network.

The network stylises a frame in one forward pass (``paintvid video --method fast --model MODEL.keras``).
Rerunning the same command resumes from the newest checkpoint in ``MODEL.train/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.paths import check_output_dir, check_output_path
from paintvid.commands.common import (
    PRECISION_DEFAULT_HELP,
    check_range,
    float_list,
    precision_of,
    require_files,
    require_input_files,
)


def register(sub) -> None:
    p = sub.add_parser("train-style", help="train a fast feed-forward network for one style", description=__doc__)
    p.add_argument("style", help="style painting")
    p.add_argument("--out", required=True, help="model to write (.keras); checkpoints go to OUT.train/")
    p.add_argument("--content", nargs="+", required=True, metavar="DIR_OR_VIDEO",
                   help="image folders (searched recursively), images and/or videos to train on")
    p.add_argument("--fast", action="store_true",
                   help="tiny demo model: narrow network, 128 px crops, 300 steps (minutes on 2 cores)")
    p.add_argument("--workdir", default=None, help="checkpoints, logs and previews (default: OUT.train/)")
    g = p.add_argument_group("network")
    g.add_argument("--preset", choices=["slim", "johnson"], default="slim",
                   help="slim: CPU real-time variant; johnson: the original architecture")
    g.add_argument("--width-multiplier", type=float, default=None, help="scale every layer's channels")
    g = p.add_argument_group("training")
    g.add_argument("--steps", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None, help="frame pairs per step")
    g.add_argument("--size", type=int, default=None, help="side of the square training crops (multiple of 8)")
    g.add_argument("--learning-rate", type=float, default=None)
    g.add_argument("--video-pairs", type=int, default=None, help="real frame pairs precomputed from the videos")
    g.add_argument("--checkpoint-every", type=int, default=None)
    g.add_argument("--preview-every", type=int, default=None)
    g = p.add_argument_group("loss")
    g.add_argument("--weights", default="bundled", help="VGG16 of the loss: bundled, imagenet or a path")
    g.add_argument("--precision", choices=["float32", "bfloat16"], default=None,
                   help=PRECISION_DEFAULT_HELP)
    g.add_argument("--content-weight", type=float, default=5.0)
    g.add_argument("--style-weight", type=float, default=100.0)
    g.add_argument("--tv-weight", type=float, default=1e-3)
    g.add_argument("--temporal-weight", type=float, default=None,
                   help="weight of the output temporal loss (default: transfer.fast.losses.TEMPORAL_WEIGHT, 30); "
                        "0 trains without it")
    g.add_argument("--temporal-feature-weight", type=float, default=0.0,
                   help="temporal loss on the network's bottleneck features (ReCoNet)")
    g.add_argument("--style-size", type=int, default=None, help="style image width for its Gram matrices")
    g.add_argument("--style-layer-weights", type=float_list, default=(1.0, 1.0, 1.0, 1.0, 1.0),
                   help="weights of block1_conv1..block5_conv1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    require_input_files(args.style, expected="an image file")
    require_files(*args.content)
    check_range("--size", args.size, 8, 2048)
    check_range("--steps", args.steps, 1, 10_000_000)
    check_range("--batch-size", args.batch_size, 1, 1024)
    check_output_path(args.out, (".keras",), [args.style, *args.content], what="model")
    check_output_dir(args.workdir or Path(args.out).with_suffix(".train"), what="work folder")
    from dataclasses import replace

    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.fast.data import PairOptions
    from transfer.fast.losses import TEMPORAL_WEIGHT, FastLossWeights
    from transfer.fast.network import NetworkSpec
    from transfer.fast.train import TrainConfig, train_style

    loss = FastLossWeights(content=args.content_weight, style=args.style_weight, tv=args.tv_weight,
                           temporal=TEMPORAL_WEIGHT if args.temporal_weight is None else args.temporal_weight,
                           temporal_features=args.temporal_feature_weight)
    common = {"workdir": Path(args.workdir) if args.workdir else None, "loss": loss, "weights": args.weights,
              "precision": precision_of(args),
              "style_layer_weights": tuple(args.style_layer_weights),
              "seed": args.seed, "progress": not args.quiet}
    style, out, content = Path(args.style), Path(args.out), tuple(Path(c) for c in args.content)
    base = TrainConfig.quick(style, out, content, **common) if args.fast else TrainConfig(style, out, content, **common)
    network = base.network
    if args.preset != "slim" or args.width_multiplier is not None:
        width = args.width_multiplier if args.width_multiplier is not None else network.width
        network = NetworkSpec.preset(args.preset, width=width)
    pairs: PairOptions = base.pairs
    if args.size is not None:
        pairs = replace(pairs, size=args.size)
    if args.video_pairs is not None:
        pairs = replace(pairs, video_pairs=args.video_pairs)
    overrides = {k: v for k, v in {
        "steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "checkpoint_every": args.checkpoint_every, "preview_every": args.preview_every, "style_size": args.style_size,
    }.items() if v is not None}
    config = replace(base, network=network, pairs=pairs, **overrides)
    report = train_style(config)
    final = report.final_losses
    print(f"{report.output}\t{report.steps} steps\tloss {final.get('total', float('nan')):.4g}"
          f" (style {final.get('style', float('nan')):.4g}, temporal {final.get('temporal', float('nan')):.4g})"
          f"\t{report.timings_seconds.total:.0f}s")
