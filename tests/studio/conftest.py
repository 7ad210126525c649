"""Fixtures of the studio tests: a tiny clip and painting made here, and one studio server per session."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import textured_image

# Gradio must not reach the internet from the tests either (telemetry, version check)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

CLIP_FRAMES, CLIP_W, CLIP_H = 6, 64, 48


def finished_job(job: Path, outputs: dict, frames: int) -> dict:
    """Check a finished studio job without evaluation: its film has ``frames`` frames of the clip's 64x48, its
    side-by-side is twice as wide; return its run record."""
    from media.video_io import probe

    assert outputs["evaluation"] is None
    info = probe(job / outputs["video"])
    assert (info.frame_count, info.width, info.height) == (frames, CLIP_W, CLIP_H)
    assert probe(job / outputs["side_by_side"]).width == 2 * CLIP_W
    return json.loads((job / outputs["run"]).read_text())


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Return paths of a 6-frame 64x48 H.264 clip panning over a texture, a painting and some bad uploads."""
    from media.encode import encode_frames

    root = tmp_path_factory.mktemp("studio_media")
    wide = textured_image(CLIP_H, CLIP_W + 2 * CLIP_FRAMES, seed=3)
    frames = [np.ascontiguousarray(wide[:, 2 * i: 2 * i + CLIP_W]) for i in range(CLIP_FRAMES)]
    files = {"clip": encode_frames(frames, root / "tiny clip.mp4", 10.0), "painting": root / "painting.png"}
    stripes = (np.indices((64, 64)).sum(0) % 8 < 4)[..., None] * np.array([40, 90, 220], np.uint8)
    cv2.imwrite(str(files["painting"]), np.clip(stripes + textured_image(64, 64, seed=9) // 3, 0, 255).astype(np.uint8))
    files["text"] = root / "notes.mp4"
    files["text"].write_text("this is not a video\n")
    files["empty"] = root / "empty.png"
    files["empty"].write_bytes(b"")
    return files


class OutsideConnections(list):
    """Records every host this process resolves or connects to that is not this machine."""

    LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")

    def __init__(self) -> None:
        super().__init__()
        self._connect, self._getaddrinfo = socket.socket.connect, socket.getaddrinfo
        watch = self

        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not watch._local(address[0]):
                watch.append(address[0])
            return watch._connect(sock, address)

        def getaddrinfo(host, *args, **kwargs):
            if host is not None and not watch._local(host):
                watch.append(host)
            return watch._getaddrinfo(host, *args, **kwargs)

        socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo

    def _local(self, host) -> bool:
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in self.LOCAL or host.startswith("127.")

    def restore(self) -> None:
        socket.socket.connect, socket.getaddrinfo = self._connect, self._getaddrinfo


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """Start one studio on a free localhost port (no samples, no models); yield (url, Studio, outside hosts)."""
    from studio.app import serve
    from studio.config import StudioConfig
    from studio.service import Studio

    outside = OutsideConnections()
    root = tmp_path_factory.mktemp("studio_out")
    config = StudioConfig(out=root / "out", samples=root / "samples", models=root / "models", port=0,
                          poll_seconds=0.3)
    studio = Studio(config)
    demo, url = serve(config, block=False, studio=studio)
    try:
        yield url, studio, outside
    finally:
        demo.close()
        studio.manager.stop(timeout=60)
        outside.restore()
