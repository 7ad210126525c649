"""Frozen configuration of the web studio (``paintvid app`` / ``make app``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from foundation.errors import UserError
from studio.uploads import UploadLimits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


@dataclass(frozen=True)
class StudioConfig:
    """Where the studio keeps its files, what it accepts and where it listens.

    Attributes:
        out: jobs go to ``out/jobs/<id>/``, previews to ``out/previews/``.
        samples: folder of sample clips and paintings offered on the page (``make samples``).
        models: folder searched for fast-mode networks (``paintvid train-style``) and ``backbone.weights.h5``.
        weights: VGG16 weights of jobs and previews: ``auto`` (``models/backbone.weights.h5`` when it exists,
            else ``bundled``), ``bundled``, ``imagenet`` or a path.
        limits: caps on uploads and job sizes.
        host, port: where the server listens; 127.0.0.1 (this machine only) unless asked otherwise.
        poll_seconds: how often the page and the stylize endpoint read a job's progress.
        keep_previews: previews kept on disk (older ones are removed).
    """

    out: Path = Path("out")
    samples: Path = Path("samples")
    models: Path = Path("models")
    weights: str = "auto"
    limits: UploadLimits = field(default_factory=UploadLimits)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    poll_seconds: float = 1.0
    keep_previews: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port}: must be in 0..65535 (0 = any free port)")
        if not self.host:
            raise UserError("--host: give an address such as 127.0.0.1")
        if self.poll_seconds <= 0:
            raise UserError("poll_seconds must be positive")

    @property
    def jobs_dir(self) -> Path:
        return Path(self.out) / "jobs"

    @property
    def previews_dir(self) -> Path:
        return Path(self.out) / "previews"

    @property
    def resolved_weights(self) -> str:
        if self.weights != "auto":
            return self.weights
        own = Path(self.models) / "backbone.weights.h5"
        return str(own) if own.is_file() else "bundled"

    @property
    def loopback_only(self) -> bool:
        """True when only this machine can reach the server (127.0.0.0/8, ::1 or ``localhost``)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
