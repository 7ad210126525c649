"""The structure measure (media.structure) on hand-made images with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from media.structure import mean_structure, structure_map, structure_score
from tests.conftest import textured_image


@pytest.fixture
def image() -> np.ndarray:
    return textured_image(96, 128, seed=5)


def test_identical_images_score_one(image):
    assert structure_score(image, image) == pytest.approx(1.0, abs=1e-4)


def test_brightness_and_contrast_changes_keep_the_structure(image):
    dimmer = np.clip(image.astype(np.float32) * 0.5 + 40, 0, 255).astype(np.uint8)
    assert structure_score(image, dimmer) > 0.99


def test_constant_output_scores_about_zero(image):
    assert abs(structure_score(image, np.full_like(image, 128))) < 1e-6


def test_shifted_copy_scores_lower_the_further_it_moves(image):
    near = structure_score(image, np.roll(image, 3, axis=1))
    far = structure_score(image, np.roll(image, 12, axis=1))
    assert far < near < 0.99


def test_inverted_image_is_anticorrelated(image):
    assert structure_score(image, 255 - image) < -0.99


def test_flat_input_has_no_structure_to_lose():
    flat = np.full((48, 64, 3), 90, np.uint8)
    corr, valid = structure_map(flat, textured_image(48, 64))
    assert not valid.any() and corr.shape == (48, 64)
    assert structure_score(flat, textured_image(48, 64)) == 1.0


def test_mean_over_frames_and_shape_checks(image):
    assert mean_structure([image, image], [image, np.full_like(image, 7)]) == pytest.approx(0.5, abs=1e-4)
    with pytest.raises(ValueError):
        structure_score(image, image[:, :64])
    with pytest.raises(ValueError):
        mean_structure([image], [])
