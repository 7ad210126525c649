"""Process-wide runtime setup done once at the CLI edge: quiet TensorFlow logs, thread counts, seeds."""

from __future__ import annotations

import os
import random


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter; must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (and Keras) random generators."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)
