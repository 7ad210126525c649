"""The optimisation path as a styliser of the frame loop: Gatys et al. per frame with Ruder et al.'s temporal terms.

Frame i starts from the previous stylised frame warped by the flow i -> i-1 (pixels the flow cannot explain come
from the content frame) and adds the temporal loss ``sum_k c_k (x - w_k)^2 / D`` against the warped earlier frames k
in ``long_term`` (closest first). In passes after the first (Ruder's multi-pass algorithm, alternating direction)
each frame starts from a blend of the previous pass and the warped neighbour of the current pass.

A styliser covers one shot: neighbours never reach across a cut, so the first frame of every shot starts like
the clip's first frame (``first_init``, ``first_iterations``) with no temporal loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from media.consistency import long_term_weights
from media.flo import read_flo
from media.warp import warp
from transfer.color import prepare_inputs
from transfer.features import deprocess, preprocess
from transfer.optimize import OptimizeOptions
from transfer.painted_start import painted_start, style_vector
from transfer.pyramid import coarse_to_fine
from transfer.stylize import InitMode, blend_weights, initial_image, load_styles, progress_bar, run_optimization
from video.config import Init, VideoConfig
from video.loop import FrameItem
from video.workdir import WorkDir


def _warp_into(workdir: WorkDir, image: np.ndarray, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (image of frame j warped into frame i (H, W, 3) float32, certainty (H, W) float32)."""
    warped, inside = warp(image.astype(np.float32), read_flo(workdir.flow(i, j)), interpolation="cubic")
    c = workdir.read_certainty(i, j) * inside
    return warped, c.astype(np.float32)


def temporal_targets(workdir: WorkDir, i: int, neighbours: list[int], stylized_of) -> tuple[np.ndarray, np.ndarray]:
    """Return (warped (K, H, W, 3) VGG-preprocessed, certainty (K, H, W, 1)) for neighbours, closest first.

    ``stylized_of(j)`` gives the stylised frame j as (H, W, 3) uint8. Weights follow the paper's long-term rule
    c_j <- max(c_j - sum of closer c_k, 0), so each pixel is constrained by its closest reliable frame.
    """
    warped, certs = [], []
    for j in neighbours:
        w, c = _warp_into(workdir, stylized_of(j), i, j)
        warped.append(preprocess(w)[0])
        certs.append(c)
    certs = long_term_weights(certs) if len(certs) > 1 else certs
    return np.stack(warped), np.stack(certs)[..., None].astype(np.float32)


def initial_frame(
    init: Init, content: np.ndarray, warped_prev: np.ndarray | None, c_prev: np.ndarray | None,
    prev: np.ndarray | None, rng: np.random.Generator,
) -> np.ndarray:
    """Return the (1, H, W, 3) VGG-preprocessed start of a frame after the first.

    Args:
        content: (H, W, 3) uint8 BGR content frame; prev: (H, W, 3) uint8 previous stylised frame.
        warped_prev: (H, W, 3) VGG-preprocessed previous result warped into this frame; c_prev: (H, W, 1) its
            certainty. ``prev-warped`` blends it with the content frame by the certainty, so disoccluded and
            unreliable pixels start from the content instead of smeared paint.
    """
    if init is Init.PREV_WARPED and warped_prev is not None:
        return (c_prev * warped_prev + (1 - c_prev) * preprocess(content)[0])[None]
    if init is Init.PREV and prev is not None:
        return preprocess(prev)
    if init is Init.RANDOM:
        return preprocess(rng.uniform(0, 255, content.shape).astype(np.float32))
    return preprocess(content)


class OptimizationStylizer:
    """Stylises frames of one shot in pass ``pass_index`` one at a time; ``records[key]`` gets each frame's numbers.

    Args:
        objective: the run's ``transfer.objective.StyleObjective``; grams_at(i): the style target of frame i.
        frames: the shot's 1-based frame numbers (``range(1, n + 1)`` for a clip without cuts); shot: its number.
        records: ``{"PASS:FRAME": {...}}``, updated in place as frames finish.
        grams_at_width(i, width): frame i's style target for a content of that width (the pyramid's coarse level);
            None uses ``grams_at(i)`` at both levels.
    """

    batch_size = 1

    def __init__(self, config: VideoConfig, workdir: WorkDir, objective, grams_at: Callable[[int], dict],
                 frames: range, pass_index: int, records: dict, shot: int = 1,
                 grams_at_width: Callable[[int, int], dict] | None = None):
        self.config, self.workdir, self.objective, self.grams_at = config, workdir, objective, grams_at
        self.grams_at_width = grams_at_width
        self.frames, self.p, self.records, self.shot = frames, pass_index, records, shot
        self.forward = pass_index % 2 == 1
        self.out_pass = None if config.passes == 1 else pass_index
        self._last: dict = {}
        self._vector: np.ndarray | None = None

    def stylize(self, items: list[FrameItem]) -> list[np.ndarray]:
        return [self._frame(item.index, item.frame) for item in items]

    def postfix(self) -> dict:
        return self._last

    def _stylized_of(self, j: int) -> np.ndarray:
        return self.workdir.read_png(self.workdir.stylized(j, self.out_pass))

    def _neighbours(self, i: int) -> list[int]:
        step = -1 if self.forward else 1  # the already-processed neighbour lies behind us
        neighbours = [i + step * k for k in sorted(self.config.long_term) if i + step * k in self.frames]
        return neighbours[:1] if self.p > 1 else neighbours

    def _init_name(self, neighbours: list[int]) -> str:
        """Return how a frame with these neighbours started: the first frame's init, the later frames', or the
        previous pass."""
        if self.p > 1:
            return "previous-pass"
        return self.config.first_init.value if not neighbours else self.config.init.value

    def _start(self, i: int, content: np.ndarray, neighbours: list[int], warped, cert
               ) -> tuple[np.ndarray, int, int]:
        """Return (x0 (1, H, W, 3) VGG-preprocessed, full-size iterations, half-size iterations before them) of
        frame i in this pass: a first frame, or one whose warped start is mostly disoccluded, runs the pyramid."""
        config = self.config
        rng = np.random.default_rng(config.seed * 100_003 + i)
        if self.p == 1 and not neighbours:
            return self._first_start(content, rng), config.first_iterations, config.coarse_iterations
        if self.p == 1:
            x0 = initial_frame(config.init, content, warped[0], cert[0], self._stylized_of(neighbours[0]), rng)
            if float(cert[0].mean()) < config.disocclusion:
                return x0, config.first_iterations, config.coarse_iterations
            return x0, config.iterations, 0
        previous = preprocess(self.workdir.read_png(self.workdir.stylized(i, self.p - 1)))
        if neighbours:
            # Ruder et al.'s multi-pass: blend the warped neighbour of this pass into the last pass's result
            c = config.pass_blend * cert[0]
            previous = (c * warped[0] + (1 - c) * previous[0])[None]
        return previous, config.pass_iterations or config.iterations, 0

    def _first_start(self, content: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the (1, H, W, 3) VGG-preprocessed start of a shot's first frame (``config.first_init``)."""
        config = self.config
        if config.first_init is not InitMode.PAINTED:
            return initial_image(config.first_init, content, rng)
        if self._vector is None:  # the painter's style code, once per shot (the styles' blend of the run)
            self._vector = style_vector(load_styles(config.style), blend_weights(config.style))
        return painted_start(content, self._vector)

    def _frame(self, i: int, frame: np.ndarray) -> np.ndarray:
        config, t0 = self.config, time.perf_counter()
        content = prepare_inputs(config.preserve_colors, frame, [])[0]
        neighbours = self._neighbours(i)
        warped = cert = None
        if neighbours:
            warped, cert = temporal_targets(self.workdir, i, neighbours, self._stylized_of)
        x0, iterations, coarse = self._start(i, content, neighbours, warped, cert)
        if config.loss.temporal == 0:
            warped = cert = None
        warped_at = time.perf_counter()
        result = self._optimise(i, content, x0, iterations, coarse, warped, cert)
        seconds = time.perf_counter() - t0
        self.records[f"{self.p}:{i:06d}"] = {"frame": i, "pass": self.p, "shot": self.shot,
                                             "first_of_shot": i == self.frames[0], "init": self._init_name(neighbours),
                                             "iterations": result.iterations,
                                             "coarse_iterations": result.coarse_iterations,
                                             "stopped_early": result.stopped_early, "seconds": seconds,
                                             "stage_seconds": _stage_seconds(result, warped_at - t0),
                                             "evaluations": result.evaluations,
                                             "losses": {**result.parts, "total": result.loss}}
        self._last = {"frame": i, "loss": f"{result.loss:.4g}", "s_per_frame": f"{seconds:.1f}"}
        return deprocess(result.x)

    def _optimise(self, i: int, content: np.ndarray, x0: np.ndarray, iterations: int, coarse: int, warped, cert):
        """Return the :class:`transfer.optimize.OptimizeResult` of frame i: single-scale, or the pyramid when
        ``coarse`` > 0."""
        config = self.config
        options = OptimizeOptions(kind=config.optimizer, iterations=iterations, stall_tolerance=config.stall_tolerance,
                                  adam_learning_rate=config.adam_learning_rate, lbfgs_memory=config.lbfgs_memory)
        with progress_bar(iterations + coarse, f"frame {i}", config.progress, position=1) as inner:
            if coarse == 0:
                targets = self.objective.targets(preprocess(content), self.grams_at(i), warped, cert)
                return run_optimization(self.objective, x0, targets, config.loss, options, inner)

            def grams_at_width(width: int) -> dict:
                return self.grams_at_width(i, width) if self.grams_at_width is not None else self.grams_at(i)

            return coarse_to_fine(self.objective, content, grams_at_width, x0, config.loss, options, coarse,
                                  warped=warped, certainty=cert, progress=lambda *_: inner.update(1))


def _stage_seconds(result, warp_seconds: float) -> dict[str, float]:
    """Where a frame's time went: warping the earlier results in (with their certainties), the VGG pass (loss and
    gradient evaluations) and the optimiser's own work (L-BFGS or Adam updates, line search bookkeeping)."""
    return {"warp": warp_seconds, "vgg": result.seconds_evaluating,
            "optimizer_overhead": result.seconds - result.seconds_evaluating}
