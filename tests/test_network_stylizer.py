"""The streaming styliser's smoothing: flow estimated on a background thread gives the sequential result exactly."""

from __future__ import annotations

import numpy as np

from media.smoothing import smooth_frame
from tests.synthetic import synthetic_clip
from video.fast_stylizer import NetworkStylizer
from video.loop import FrameItem


def _channel_swap(frames: np.ndarray) -> np.ndarray:
    """A stand-in network: (B, H, W, 3) uint8 -> the same frames with their channels reversed and darkened."""
    return (frames[..., ::-1] // 2).astype(np.uint8)


def test_batches_with_background_flow_match_frame_by_frame_smoothing():
    clip = synthetic_clip(n_frames=7, h=48, w=64, shift=(1.5, -0.5), patch_shift=(-2.0, 1.0), seed=3)
    stylizer = NetworkStylizer(_channel_swap, batch_size=3, smoothing=0.8, flow_method="dis", flow_scale=1.0,
                               check="photo")
    streamed = []
    for start in range(0, 7, 3):  # batches of 3, 3, 1: pairs inside a batch and across batch borders
        streamed += stylizer.stylize([FrameItem(k + 1, clip.frames[k]) for k in range(start, min(start + 3, 7))])
    expected = [_channel_swap(clip.frames[0][None])[0]]
    for k in range(1, 7):
        own = _channel_swap(clip.frames[k][None])[0]
        expected.append(smooth_frame(own, expected[-1], clip.frames[k], clip.frames[k - 1], 0.8, "dis", 1.0, "photo"))
    for k, (got, want) in enumerate(zip(streamed, expected, strict=True)):
        assert np.array_equal(got, want), f"frame {k} differs"
    assert not np.array_equal(streamed[3], _channel_swap(clip.frames[3][None])[0])  # the smoothing did act
    assert stylizer.smooth_seconds > 0 and stylizer.network_seconds > 0


def test_without_smoothing_the_network_output_passes_through():
    clip = synthetic_clip(n_frames=3, h=32, w=40, seed=4)
    stylizer = NetworkStylizer(_channel_swap, batch_size=3, smoothing=0.0)
    out = stylizer.stylize([FrameItem(k + 1, f) for k, f in enumerate(clip.frames)])
    assert all(np.array_equal(o, _channel_swap(f[None])[0]) for o, f in zip(out, clip.frames, strict=True))
