"""On-disk cache of the frozen trunk's outputs, one row per image and augmentation variant.

Blocks 1-4 never change during fine-tuning, so their output is computed once per (image, variant) and
training then runs only block 5 and the head. Layout of ``root/<key>/``:

- ``v{k}_block4.npy``: ``(N, S/16, S/16, 512) float16`` block4_pool activations (memory-mapped);
- ``v{k}_texture.npy``: ``(N, TEXTURE_DIM) float32`` texture vector (channel statistics and correlations);
- ``v{k}_done.npy``: ``(N,) bool``, which rows are filled; rewritten atomically once a chunk's rows are on disk
  (in the background, :meth:`FeatureCache.ensure`), so a killed run recomputes at most two chunks;
- ``vectors/{tag}/v{k}.npy`` and ``..._done.npy``: head inputs computed from those rows by a model whose weights
  hash to ``tag`` (:meth:`FeatureCache.vectors`), so that cross-validation folds and recipes sharing a starting
  block 5 compute them once.

``key`` hashes a layout version, the backbone description, image size, seed and every image's path, size and
mtime: a change to any of them starts a fresh cache instead of reusing stale features.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf

from classifier.model import TEXTURE_DIM
from classifier.pipeline import Augment, image_dataset
from foundation.atomic import atomic_write_bytes, atomic_write_json
from foundation.fingerprint import fingerprint

#: Bumped whenever the views or the trunk's outputs change meaning (2: whole-image views, all-conv texture;
#: 3: near-native crops at views 2-9, shortcut-breaking training views from 10; 4: channel correlations of each
#: block's last conv join the texture vector; 5: of each block's first conv instead).
CACHE_VERSION = 5


def cache_key(paths: Sequence[str], image_size: int, seed: int, weights: str) -> str:
    """Return a 16-hex-digit fingerprint of everything the cached features depend on."""
    files = []
    for p in paths:
        st = Path(p).stat()
        files.append((str(p), st.st_size, st.st_mtime_ns))
    return fingerprint([CACHE_VERSION, weights, int(image_size), int(seed), files])


def _precision(trunk) -> str:
    """Return the dtype policy of the trunk's convolutions (part of the key: bfloat16 and float32 features differ)."""
    return "" if trunk is None else trunk.get_layer("block1_conv1").dtype_policy.name


class FeatureCache:
    """Trunk outputs for the images ``paths``, filled on demand by :meth:`ensure`.

    Args:
        root: folder holding caches (one sub-folder per key).
        trunk: the frozen trunk from :func:`classifier.model.build_trunk`.
        paths: image files, in table order (row ``i`` of every array belongs to ``paths[i]``).
        weights: description of the backbone weights (part of the key).
    """

    def __init__(self, root: str | Path, trunk, paths: Sequence[str], image_size: int, seed: int, weights: str,
                 batch_size: int = 16, augment: Augment = Augment(), chunk: int = 256):
        self.paths = list(paths)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.trunk = trunk
        self.batch_size = batch_size
        self.augment = augment
        self.chunk = chunk
        self.key = cache_key(self.paths, image_size, seed, f"{weights}|{_precision(trunk)}")
        self.dir = Path(root) / self.key
        self.grid = tuple(int(d) for d in trunk.output_shape[0][1:]) if trunk is not None else None
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.dir / "info.json", {"weights": weights, "image_size": image_size, "seed": seed,
                                                   "images": len(self.paths)})

    def _files(self, variant: int) -> tuple[Path, Path, Path]:
        return (self.dir / f"v{variant}_block4.npy", self.dir / f"v{variant}_texture.npy",
                self.dir / f"v{variant}_done.npy")

    def done(self, variant: int) -> np.ndarray:
        """Return the ``(N,) bool`` mask of rows already computed for ``variant``."""
        path = self._files(variant)[2]
        return np.load(path) if path.exists() else np.zeros(len(self.paths), bool)

    def _open(self, variant: int, mode: str):
        block4_path, texture_path, _ = self._files(variant)
        n = len(self.paths)
        if mode == "w+" and not block4_path.exists():
            # sparse files: rows of variants only computed for training images cost no disk for the others
            np.lib.format.open_memmap(block4_path, "w+", np.float16, (n, *self.grid)).flush()
            np.lib.format.open_memmap(texture_path, "w+", np.float32, (n, TEXTURE_DIM)).flush()
        m = "r+" if mode == "w+" else "r"
        return np.load(block4_path, mmap_mode=m), np.load(texture_path, mmap_mode=m)

    def ensure(self, variant: int, indices: Sequence[int], progress=None) -> int:
        """Compute the rows ``indices`` of ``variant`` that are missing; returns how many were computed.

        One input pipeline streams every missing row (no restart per chunk). After each ``chunk`` rows a
        background thread makes them durable (``fsync`` of both arrays, then the done mask rewritten atomically)
        while the trunk goes on with the next rows; a row is marked done only once its data is on disk, so a
        killed run recomputes at most the last two chunks. ``progress`` (optional) is called with the number of
        images finished after each batch.
        """
        done = self.done(variant)
        todo = np.array(sorted(set(int(i) for i in indices) - set(np.flatnonzero(done).tolist())), dtype=np.int64)
        if len(todo) == 0:
            return 0
        block4, texture = self._open(variant, "w+")
        spec = tf.TensorSpec((None, self.image_size, self.image_size, 3), tf.float32)
        predict = tf.function(lambda x: self.trunk(x, training=False), input_signature=[spec])
        ds = image_dataset([self.paths[i] for i in todo], self.image_size, self.batch_size, variant=variant,
                           seed=self.seed, augment=self.augment, ids=todo)
        pending, offset, marked = None, 0, 0
        with ThreadPoolExecutor(max_workers=1) as writer:
            for batch in ds:
                b4, tex = predict(batch)
                sel = todo[offset:offset + len(b4)]
                block4[sel] = np.minimum(b4.numpy(), np.finfo(np.float16).max).astype(np.float16)
                texture[sel] = tex.numpy()
                offset += len(b4)
                if progress is not None:
                    progress(len(b4))
                if offset - marked >= self.chunk or offset == len(todo):
                    if pending is not None:
                        pending.result()  # one write in flight at a time, in order
                    done[todo[marked:offset]] = True
                    pending = writer.submit(self._commit, variant, done.copy())
                    marked = offset
            if pending is not None:
                pending.result()
        return len(todo)

    def _commit(self, variant: int, done: np.ndarray) -> None:
        """Make the arrays of ``variant`` durable, then record ``done`` (what they hold) atomically."""
        for path in self._files(variant)[:2]:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)  # writes back the pages dirtied through the memory map; releases the GIL
            finally:
                os.close(fd)
        _save_mask(self._files(variant)[2], done)

    def load(self, variant: int, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(block4 float32 (n, h, w, 512), texture float32 (n, TEXTURE_DIM))`` for rows ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        if not self.done(variant)[indices].all():
            raise RuntimeError(f"cache {self.dir}: variant {variant} is missing rows; call ensure() first")
        block4, texture = self._open(variant, "r")
        return np.asarray(block4[indices], np.float32), np.asarray(texture[indices], np.float32)

    def dataset(self, items: Sequence[tuple[int, int]], labels: Sequence[float] | None, batch_size: int,
                shuffle: bool = False, seed: int = 0):
        """Return a ``tf.data.Dataset`` of ``((block4, texture), label)`` batches read from the memory maps.

        ``items`` lists ``(variant, row)`` pairs (all must be computed). With ``shuffle`` the order changes
        every epoch, reproducibly for a given ``seed``. Without labels, elements are
        ``((block4, texture),)`` (inputs only).
        """
        items = np.asarray(items, dtype=np.int64).reshape(-1, 2)
        for variant in np.unique(items[:, 0]):
            if not self.done(int(variant))[items[items[:, 0] == variant, 1]].all():
                raise RuntimeError(f"cache {self.dir}: variant {variant} is missing rows; call ensure() first")
        arrays = {int(v): self._open(int(v), "r") for v in np.unique(items[:, 0])}
        y = np.zeros(len(items), np.float32) if labels is None else np.asarray(labels, np.float32)

        def gather(ids: np.ndarray):
            chosen = items[ids]
            b4 = np.stack([arrays[int(v)][0][r] for v, r in chosen]).astype(np.float32)
            tex = np.stack([arrays[int(v)][1][r] for v, r in chosen]).astype(np.float32)
            return b4, tex, y[ids]

        def load(ids):
            b4, tex, lab = tf.numpy_function(gather, [ids], [tf.float32, tf.float32, tf.float32])
            b4.set_shape((None, *self.grid))
            tex.set_shape((None, TEXTURE_DIM))
            lab.set_shape((None,))
            return ((b4, tex), lab) if labels is not None else ((b4, tex),)

        ds = tf.data.Dataset.range(len(items))
        if shuffle:
            ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).map(load, num_parallel_calls=1, deterministic=True).prefetch(2)

    def vectors(self, model, items: Sequence[tuple[int, int]], batch_size: int = 32) -> np.ndarray:
        """Return ``model``'s outputs ``(len(items), D) float32`` for the cached ``(view, row)`` items, computing
        only rows not stored yet for this model's weights (``model``: ``[block4, texture] -> (B, D)``)."""
        items = np.asarray(items, dtype=np.int64).reshape(-1, 2)
        folder = self.dir / "vectors" / weights_tag(model)
        folder.mkdir(parents=True, exist_ok=True)
        out = np.zeros((len(items), int(model.output_shape[-1])), np.float32)
        for view in np.unique(items[:, 0]):
            where = np.flatnonzero(items[:, 0] == view)
            out[where] = self._view_vectors(model, folder, int(view), items[where, 1], batch_size)
        return out

    def _view_vectors(self, model, folder: Path, view: int, rows: np.ndarray, batch_size: int) -> np.ndarray:
        done_path, data_path = folder / f"v{view}_done.npy", folder / f"v{view}.npy"
        done = np.load(done_path) if done_path.exists() else np.zeros(len(self.paths), bool)
        if not data_path.exists():
            np.lib.format.open_memmap(data_path, "w+", np.float32,
                                      (len(self.paths), int(model.output_shape[-1]))).flush()
        data = np.load(data_path, mmap_mode="r+")
        todo = np.array(sorted(set(rows.tolist()) - set(np.flatnonzero(done).tolist())), dtype=np.int64)
        if len(todo):
            data[todo] = model.predict(self.dataset([(view, r) for r in todo], None, batch_size), verbose=0)
            data.flush()
            done[todo] = True
            _save_mask(done_path, done)
        return np.asarray(data[rows], np.float32)


def _save_mask(path: Path, done: np.ndarray) -> None:
    """Write the ``(N,) bool`` done mask ``done`` to ``path`` (``.npy``) atomically."""
    buf = io.BytesIO()
    np.save(buf, done)
    atomic_write_bytes(path, buf.getvalue())


def weights_tag(model) -> str:
    """Return a 16-hex-digit hash of ``model``'s weights (all of them, in order)."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]
