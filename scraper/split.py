"""Stratified, seeded, sticky train/val/test split with optional class balancing over the manifest's rows.

Rows that already carry a split keep it (a model's test set stays its test set when images are added);
rows without one are split with scikit-learn's stratified ``train_test_split`` so that every split keeps the
label proportions, topping up each split towards its target size when only a few rows are new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from scraper.config import SplitConfig
from scraper.records import Status

SPLITS = ("train", "val", "test")


def apply_split(df: pd.DataFrame, config: SplitConfig) -> pd.DataFrame:
    """Return a copy of ``df`` whose usable rows are balanced (status ok/surplus) and split (train/val/test).

    ``df`` needs columns ``id, label, status, split``; rows with status ``ok`` or ``surplus`` are usable. With
    ``config.balance`` every label that has usable rows keeps as many as the smallest such label (rows that
    already have a split first, then a seeded random choice) and the rest become ``surplus`` with no split.
    Every other row gets an empty split.
    """
    out = df.copy()
    usable = out["status"].isin([Status.OK.value, Status.SURPLUS.value])
    out.loc[~usable, "split"] = ""
    out.loc[usable, "status"] = Status.OK.value
    rng = np.random.default_rng(config.seed)
    keep = usable.copy()
    if config.balance and usable.any():
        counts = out.loc[usable, "label"].value_counts()
        if len(counts) > 1:
            per_label = int(counts.min())
            for label in counts.index:
                rows = out.index[usable & (out["label"] == label)]
                has_split = out.loc[rows, "split"].isin(SPLITS).to_numpy()
                order = sorted(range(len(rows)), key=lambda i: out.at[rows[i], "id"])
                shuffled = rng.permutation(order)
                ranked = [i for i in shuffled if has_split[i]] + [i for i in shuffled if not has_split[i]]
                cut = rows[np.asarray(ranked[per_label:], dtype=int)]
                keep[cut] = False
    out.loc[usable & ~keep, "status"] = Status.SURPLUS.value
    out.loc[usable & ~keep, "split"] = ""
    kept = out.index[keep]
    known = out.loc[kept, "split"].isin(SPLITS)
    new = kept[~known.to_numpy()]
    if len(new):
        out.loc[new, "split"] = _split_new(out.loc[kept], new, config, rng)
    return out


def _split_new(kept: pd.DataFrame, new: pd.Index, config: SplitConfig, rng: np.random.Generator) -> list[str]:
    """Return a split name for each row of ``new`` (ordered as ``new``)."""
    new_df = kept.loc[new].sort_values("id")
    fractions = np.asarray(config.fractions, dtype=float)
    if len(new_df) == len(kept):
        try:
            return _sklearn_split(new_df, fractions, config.seed).reindex(new).tolist()
        except ValueError:
            pass  # too few rows per label for a stratified split: fill quotas instead
    names = pd.Series("", index=new_df.index, dtype=object)
    for label, group in new_df.groupby("label", sort=True):
        existing = kept[(kept["label"] == label) & kept["split"].isin(SPLITS)]["split"].value_counts()
        have = np.array([existing.get(s, 0) for s in SPLITS], dtype=float)
        want = _largest_remainder(fractions * (have.sum() + len(group)))
        deficit = np.maximum(want - have, 0).astype(int)
        order = group.index[rng.permutation(len(group))]
        pos = 0
        for s, d in zip(SPLITS, deficit, strict=True):
            take = order[pos:pos + d]
            names[take] = s
            pos += len(take)
        names[order[pos:]] = "train"
    return names.reindex(new).tolist()


def _sklearn_split(df: pd.DataFrame, fractions: np.ndarray, seed: int) -> pd.Series:
    """Return train/val/test names from two stratified ``train_test_split`` calls."""
    train_f, val_f, test_f = fractions
    names = pd.Series("train", index=df.index, dtype=object)
    if val_f + test_f == 0:
        return names
    train_idx, rest_idx = train_test_split(df.index.to_numpy(), test_size=val_f + test_f, random_state=seed,
                                           stratify=df["label"].to_numpy())
    if test_f == 0 or val_f == 0:
        names[rest_idx] = "val" if test_f == 0 else "test"
        return names
    rest = df.loc[rest_idx]
    val_idx, test_idx = train_test_split(rest.index.to_numpy(), test_size=test_f / (val_f + test_f),
                                         random_state=seed, stratify=rest["label"].to_numpy())
    names[val_idx], names[test_idx] = "val", "test"
    return names


def _largest_remainder(quotas: np.ndarray) -> np.ndarray:
    """Return integers summing to ``round(quotas.sum())`` that are as close as possible to ``quotas``."""
    floor = np.floor(quotas).astype(int)
    extra = int(round(quotas.sum())) - int(floor.sum())
    order = np.argsort(-(quotas - floor), kind="stable")
    floor[order[:extra]] += 1
    return floor
