"""Fixtures of the classifier tests: one tiny dataset and one short training run shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.classifier.synthetic import write_manifest

#: Small enough for 2 shared CPU cores: 32 px inputs (block4_pool is 2x2), 20 images per class.
IMAGE_SIZE = 32


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory) -> Path:
    """A scraper-format manifest: 20 paintings + 20 photos (12/4/4 train/val/test each), 2 corrupt, 1 failed."""
    return write_manifest(tmp_path_factory.mktemp("flickr"), 20, size=48, corrupt=2, failed=1)


@pytest.fixture(scope="session")
def trained(tiny_manifest, tmp_path_factory):
    """Run ``finetune`` once (block 5 unfrozen from the start) and return ``(report, out_dir)``."""
    from classifier.finetune import FinetuneConfig, finetune
    from classifier.pipeline import Augment

    out = tmp_path_factory.mktemp("models")
    # mild training views: this run checks that block 5 learns from a random head, not the shortcut breaking
    mild = Augment(grayscale=0.0, hue=0.0, saturation=0.1, contrast=0.1, jpeg=0.0)
    config = FinetuneConfig(data=tiny_manifest, out=out, image_size=IMAGE_SIZE, epochs=6, head_epochs=0,
                            batch_size=16, learning_rate=1e-4, augment_variants=2, augment=mild, patience=6,
                            progress=False)
    return finetune(config), out
