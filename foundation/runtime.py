"""Process-wide runtime setup done once at the CLI edge: quiet TensorFlow logs, seeds of Python and NumPy."""

from __future__ import annotations

import os
import random

import numpy as np


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter; must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def seed_python_numpy(seed: int) -> None:
    """Seed Python's and NumPy's global random generators (TensorFlow's: :func:`transfer.seeding.seed_everything`)."""
    random.seed(seed)
    np.random.seed(seed)
