"""Seeds every random generator a TensorFlow run uses: Python, NumPy, TensorFlow and Keras."""

from __future__ import annotations

import keras

from foundation.runtime import seed_python_numpy


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras so that a run with the same seed repeats."""
    seed_python_numpy(seed)
    keras.utils.set_random_seed(seed)
