"""Frozen configuration of a video stylisation run (``paintvid video`` / ``make stylize``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from foundation.errors import UserError
from media.flow import FlowMethod
from media.shots import ShotsConfig
from media.upsample import DEFAULT_METHOD as DEFAULT_UPSAMPLE
from media.upsample import UpsampleMethod, check_output_width
from media.video_io import ReadOptions
from transfer.color import ColorMode
from transfer.objective import LossWeights
from transfer.optimize import DEFAULT_LBFGS_MEMORY, DEFAULT_STALL_TOLERANCE, OptimizerKind
from transfer.stylize import InitMode, StyleSpec
from video.distributed import ClusterConfig
from video.output import check_video_output, default_workdir

#: Default weight of the short-term temporal loss. Not artistic-videos' 1e3: that assumes about as many iterations
#: on later frames as on the first. With a third of them, the pull towards the warped (slightly blurred) previous
#: frame accumulates and the style fades. On the benchmark clip (vtest, 256 px, 10 frames, 200/66 iterations) the
#: warping error is 2.9-3.1 % of the independent baseline's for weights 1, 2 and 5 alike (the warped start does
#: most of the work) while the mean style loss is +12.6 %, +15.7 % and +21.1 % above the baseline's. With the
#: Laplacian term (issue 12) weight 1 still let the style fade over 30 frames (the last ten frames' referee style loss
#: 13 % above frame 2's); 0.5 holds it (+0.8 %) at a warping error 4-5 % of the independent baseline's either way.
#: With the painted first frame and 15 iterations on later frames (issue 35) the warped start moves less and weight 1
#: is the default again: on the virtual camera's clip (exact flow, 256x192, 10 frames) the warping error is 3.7 % of
#: the per-frame baseline's (5.6 % with the previous defaults: coarse-to-fine first frame, 40 later iterations, 0.5).
DEFAULT_TEMPORAL_WEIGHT = 1.0


class Init(StrEnum):
    """How frame i (i > 1) starts: Ruder et al.'s warped previous result, or the naive alternatives."""

    PREV_WARPED = "prev-warped"
    PREV = "prev"
    CONTENT = "content"
    RANDOM = "random"


@dataclass(frozen=True)
class VideoConfig:
    """Everything one video run needs.

    Attributes:
        video, output: input clip and output ``.mp4``; ``workdir`` defaults to ``OUTPUT.work/`` beside the output.
        read: which frames, at which size and rate (``media.video_io.ReadOptions``); ``read.width`` is the working
            width the optimisation paints at.
        output_width: width of the written video (aspect kept, even sides): each painted frame is upsampled to it,
            guided by the input frame at that size, as it is encoded (``upsample``, :mod:`media.upsample`); None
            writes the working size. Not part of any stage's key: only the encoding depends on it.
        flow: optical-flow method name (``deepflow``, ``dis``, ``farneback``); ``flow_dir`` a folder of
            Middlebury ``.flo`` files to use instead (named ``000002_000001.flo`` for 2 -> 1, or the reference's
            ``forward_1_2.flo`` / ``backward_2_1.flo``).
        init: start of frames after the first; the first frame uses ``first_init`` (content, random, or painted:
            the any-painting painter's rendering of it, :mod:`transfer.painted_start`).
        loss: content/style/TV/temporal weights; ``loss.temporal = 0`` with ``init=content`` is the per-frame
            independent baseline.
        long_term: offsets of earlier frames in the temporal loss, e.g. (1,) short-term, (1, 2, 4) long-term.
        passes: 1 for a single forward pass; N > 1 runs Ruder's multi-pass algorithm (alternating directions).
        pass_blend: the multi-pass blend factor delta between the warped neighbour and the previous pass.
        first_iterations, coarse_iterations: a shot's first frame (and a frame whose warped start is mostly
            disoccluded) runs ``coarse_iterations`` at half size, then ``first_iterations`` at full size from the
            upsampled result (:func:`transfer.pyramid.coarse_to_fine`); ``coarse_iterations=0`` is single-scale.
        iterations: full-size iterations of every later frame (it starts from the warped previous result).
        disocclusion: a later frame whose warped start is certain on less than this share of its pixels is
            treated like a first frame (pyramid, first-frame budget), keeping its temporal loss.
        lbfgs_memory: corrections L-BFGS keeps (:data:`transfer.optimize.DEFAULT_LBFGS_MEMORY`).
        stall_tolerance: stop a frame early once the loss improved by less than this fraction in 10 iterations
            (on by default; 0 runs every iteration).
        style_schedule: ``"WHEN:STYLE,..."`` (see :mod:`media.schedule`): the style target of each frame
            interpolates the styles' Gram matrices over time; ``None`` uses ``style.blend`` throughout.
        preserve_colors: ``none``, ``luminance`` (stylise luminance, keep each frame's colours; ``stylized/``
            then holds the luminance result and the colours are restored when encoding) or ``histogram``
            (match the styles' colours to the first frame once per run, so the target does not flicker).
        shots: where the hard cuts are (``media.shots``: detected, none, or a CSV). Each shot starts like a first
            frame; no warp, flow or temporal loss crosses a cut.
        cluster: where the shots run (``video.distributed``): in this process, on a local Ray instance with
            ``workers > 1``, or on a Ray cluster. Does not change the frames, so it is not part of the resume keys.
    """

    video: Path
    output: Path
    style: StyleSpec
    read: ReadOptions
    workdir: Path | None = None
    flow: FlowMethod = FlowMethod.DEEPFLOW
    flow_dir: Path | None = None
    init: Init = Init.PREV_WARPED
    first_init: InitMode = InitMode.PAINTED
    loss: LossWeights = field(default_factory=lambda: LossWeights(temporal=DEFAULT_TEMPORAL_WEIGHT))
    first_iterations: int = 60
    coarse_iterations: int = 0
    iterations: int = 15
    disocclusion: float = 0.5
    pass_iterations: int | None = None
    optimizer: OptimizerKind = OptimizerKind.LBFGS_PROJECTED
    adam_learning_rate: float = 5.0
    lbfgs_memory: int = DEFAULT_LBFGS_MEMORY
    stall_tolerance: float = DEFAULT_STALL_TOLERANCE
    long_term: tuple[int, ...] = (1,)
    passes: int = 1
    pass_blend: float = 0.5
    style_schedule: str | None = None
    preserve_colors: ColorMode = ColorMode.NONE
    side_by_side: bool = False
    seed: int = 0
    progress: bool = True
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    output_width: int | None = None
    upsample: UpsampleMethod = DEFAULT_UPSAMPLE

    def __post_init__(self) -> None:
        check_output_width(self.output_width, self.read.width)
        for name, kind in (("flow", FlowMethod), ("init", Init), ("first_init", InitMode),
                           ("preserve_colors", ColorMode), ("upsample", UpsampleMethod)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))  # the CLI and scripts may pass the enum's string
            except ValueError:
                choices = ", ".join(k.value for k in kind)
                raise UserError(f"{name} {value!r} is not one of {choices}") from None
        if min(self.first_iterations, self.iterations, self.coarse_iterations) < 0:
            raise UserError("iterations must be non-negative")
        if not self.long_term or min(self.long_term) < 1:
            raise UserError(f"--long-term offsets must be positive integers, got {self.long_term}")
        if 1 not in self.long_term:
            raise UserError("--long-term must include 1 (the previous frame), e.g. 1,2,4")
        if self.lbfgs_memory < 1:
            raise UserError(f"--lbfgs-memory must be at least 1, got {self.lbfgs_memory}")
        if self.passes < 1:
            raise UserError("--passes must be at least 1")
        if not 0 <= self.disocclusion <= 1:
            raise UserError(f"--disocclusion {self.disocclusion} must lie in [0, 1]")
        if not 0 <= self.pass_blend <= 1:
            raise UserError("pass blend must lie in [0, 1]")
        check_video_output(self.output)

    @property
    def resolved_workdir(self) -> Path:
        return default_workdir(self.output, self.workdir)
