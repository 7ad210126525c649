"""Tables and figures describing a scraped dataset, from its ``manifest.csv`` (shown by ``notebooks/dataset.ipynb``).

Every function takes the manifest as :func:`scraper.manifest.load_manifest` returns it (columns
``id,label,query,owner,owner_name,license,url,page_url,path,sha256,phash,width,height,status,error,split``; one
row per candidate image, usable images have ``status == "ok"``) and returns a ``pandas.DataFrame`` or a
matplotlib ``Figure`` (object API, no GUI backend needed). Nothing here reads images or talks to the network.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from scraper.manifest import load_manifest
from scraper.records import Status

#: Flickr's licence ids (``flickr.photos.licenses.getInfo``) as short names; other ids show as ``licence N``.
LICENSE_NAMES = {
    "0": "All rights reserved",
    "1": "CC BY-NC-SA 2.0",
    "2": "CC BY-NC 2.0",
    "3": "CC BY-NC-ND 2.0",
    "4": "CC BY 2.0",
    "5": "CC BY-SA 2.0",
    "6": "CC BY-ND 2.0",
    "7": "No known copyright restrictions",
    "8": "United States Government Work",
    "9": "CC0 1.0",
    "10": "Public Domain Mark 1.0",
    "11": "CC BY 4.0",
    "12": "CC BY-SA 4.0",
    "13": "CC BY-ND 4.0",
    "14": "CC BY-NC 4.0",
    "15": "CC BY-NC-SA 4.0",
    "16": "CC BY-NC-ND 4.0",
}
#: Statuses that are not failures: usable, held back to balance the classes, or a duplicate of a kept image.
NOT_FAILED = frozenset({Status.OK.value, Status.SURPLUS.value, Status.DUPLICATE.value})
_STATUS_ORDER = [s.value for s in Status]
_NEAR = re.compile(r"near-identical to image (?P<match>\S+) \(pHash distance (?P<dist>\d+)\)")
_SAME_ID = re.compile(r"photo id already found (?P<where>.+?) \(label (?P<label>[^)]*)\)")


def load(path: str | os.PathLike) -> pd.DataFrame:
    """Return the manifest at ``path`` (``manifest.csv``/``.parquet`` or its folder); raises ``UserError`` if bad."""
    return load_manifest(path)


def license_name(license_id: str) -> str:
    """Return the readable name of a Flickr licence id (``""`` for local imports, which carry none)."""
    license_id = str(license_id).strip()
    if not license_id:
        return "none recorded (local import)"
    return LICENSE_NAMES.get(license_id, f"licence {license_id}")


def overview(df: pd.DataFrame) -> dict:
    """Return headline counts: rows, usable images, per-label usable images, duplicates, failures, surplus."""
    ok = df[df["status"] == Status.OK.value]
    return {
        "rows": int(len(df)),
        "ok": int(len(ok)),
        "ok_per_label": {str(k): int(v) for k, v in ok["label"].value_counts().sort_index().items()},
        "duplicates": int((df["status"] == Status.DUPLICATE.value).sum()),
        "surplus": int((df["status"] == Status.SURPLUS.value).sum()),
        "failed": int((~df["status"].isin(NOT_FAILED)).sum()),
        "queries": int(df["query"].nunique()),
    }


def status_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return rows found per label (index) and status (columns, in the scraper's order), with a ``total`` column."""
    table = pd.crosstab(df["label"], df["status"])
    table = table[[s for s in _STATUS_ORDER if s in table.columns] + sorted(set(table.columns) - set(_STATUS_ORDER))]
    table["total"] = table.sum(axis=1)
    return table


def class_balance(df: pd.DataFrame) -> pd.DataFrame:
    """Return usable images per label: ``images``, ``share`` of all usable, and ``found`` candidates."""
    ok = df[df["status"] == Status.OK.value]
    counts = ok["label"].value_counts()
    found = df["label"].value_counts()
    labels = sorted(found.index)
    images = pd.Series([int(counts.get(label, 0)) for label in labels], index=labels)
    out = pd.DataFrame({"images": images, "share": images / max(int(images.sum()), 1),
                        "found": [int(found[label]) for label in labels]})
    out.index.name = "label"
    return out


def license_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return usable images per licence (index, readable names, most common first) and label (columns) + ``total``."""
    ok = df[df["status"] == Status.OK.value]
    table = pd.crosstab(ok["license"].map(license_name), ok["label"])
    table.index.name = "licence"
    table["total"] = table.sum(axis=1)
    return table.sort_values("total", ascending=False)


def size_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return per label the count, min / median / max of width and height, and median megapixels of usable images."""
    ok = _sized(df)
    rows = {}
    for label, g in ok.groupby("label", sort=True):
        rows[label] = {"images": len(g),
                       "width_min": int(g["width"].min()), "width_median": float(g["width"].median()),
                       "width_max": int(g["width"].max()),
                       "height_min": int(g["height"].min()), "height_median": float(g["height"].median()),
                       "height_max": int(g["height"].max()),
                       "megapixels_median": float((g["width"] * g["height"]).median() / 1e6),
                       "landscape_share": float((g["width"] > g["height"]).mean())}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "label"
    return out


def duplicates_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return one row per ``duplicate`` row: its id, label, query, ``kind`` and what it duplicates.

    ``kind`` is ``near-identical`` (same bytes, or a perceptual hash within the threshold; ``matches`` is the kept
    image's id and ``phash_distance`` the Hamming distance, 0 for identical bytes) or ``same photo id`` (the same
    Flickr photo found again under another query or label; ``matches`` says where).
    """
    rows = []
    for _, r in df[df["status"] == Status.DUPLICATE.value].iterrows():
        near, same = _NEAR.search(r["error"]), _SAME_ID.search(r["error"])
        if near:
            kind, match, dist = "near-identical", near["match"], int(near["dist"])
        elif same:
            kind, match, dist = "same photo id", f"{same['where']} (label {same['label']})", np.nan
        else:
            kind, match, dist = "other", r["error"], np.nan
        rows.append({"id": r["id"], "label": r["label"], "query": r["query"], "kind": kind, "matches": match,
                     "phash_distance": dist})
    return pd.DataFrame(rows, columns=["id", "label", "query", "kind", "matches", "phash_distance"])


def failure_reason(error: str) -> str:
    """Return a failure message with its specifics removed, so that equal causes count together.

    URLs become ``<url>``, numbers of 4+ digits ``N`` (sizes, byte counts, ids), text in quotes ``'...'``;
    short numbers such as HTTP status codes stay, since they tell causes apart.
    """
    text = re.sub(r"\S+://\S+", "<url>", str(error))
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'...'", text)
    text = re.sub(r"\d{4,}", "N", text)
    return re.sub(r"\s+", " ", text).strip() or "(no message)"


def failure_reasons(df: pd.DataFrame) -> pd.DataFrame:
    """Return failed candidates grouped by ``status`` and normalised ``reason``: ``count`` and an ``example`` id.

    Failures are every status except ok, surplus and duplicate (see :data:`NOT_FAILED`); most common first.
    """
    failed = df[~df["status"].isin(NOT_FAILED)].assign(reason=lambda d: d["error"].map(failure_reason))
    if failed.empty:
        return pd.DataFrame(columns=["status", "reason", "count", "example"])
    grouped = failed.groupby(["status", "reason"], sort=False).agg(count=("id", "size"), example=("id", "first"))
    return grouped.reset_index().sort_values(["count", "status"], ascending=[False, True], ignore_index=True)


def split_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return usable images per label (index) and split (columns train/val/test, then others) with a ``total``."""
    ok = df[df["status"] == Status.OK.value]
    table = pd.crosstab(ok["label"], ok["split"].replace("", "(none)"))
    order = [s for s in ("train", "val", "test") if s in table.columns]
    table = table[order + sorted(set(table.columns) - set(order))]
    table["total"] = table.sum(axis=1)
    return table


# ---- figures --------------------------------------------------------------------------------------------------------

def _stacked_bars(table: pd.DataFrame, figsize: tuple[float, float]):
    """Return ``(fig, ax)`` with one horizontal bar per row of ``table``, its columns stacked left to right."""
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    left = np.zeros(len(table))
    for column in table.columns:
        ax.barh(table.index, table[column], left=left, label=column)
        left += table[column].to_numpy()
    return fig, ax


def status_figure(df: pd.DataFrame) -> Figure:
    """Return a stacked horizontal bar per label: candidates found, by outcome (class balance at a glance)."""
    table = status_table(df).drop(columns="total")
    fig, ax = _stacked_bars(table, (8, 1.2 + 0.5 * max(len(table), 2)))
    ax.set(xlabel="candidates", title="outcome of every candidate, per label")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: bars fill the axes
    fig.tight_layout()
    return fig


def license_figure(df: pd.DataFrame) -> Figure:
    """Return a bar chart of usable images per licence, stacked by label."""
    table = license_table(df).drop(columns="total")
    fig, ax = _stacked_bars(table, (7, 0.8 + 0.4 * max(len(table), 1)))
    ax.invert_yaxis()
    ax.set(xlabel="usable images", title="licences")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def size_figure(df: pd.DataFrame) -> Figure:
    """Return a scatter of width against height of usable images, one colour per label."""
    ok = _sized(df)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.subplots()
    for label, g in ok.groupby("label", sort=True):
        ax.scatter(g["width"], g["height"], s=12, alpha=0.6, label=f"{label} ({len(g)})")
    top = float(max(ok["width"].max(), ok["height"].max())) if len(ok) else 1.0
    ax.plot([0, top], [0, top], ls="--", c="grey", lw=1, label="square")
    ax.set(xlabel="width (px)", ylabel="height (px)", title="image sizes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def failure_figure(df: pd.DataFrame, top: int = 10) -> Figure:
    """Return a bar chart of the ``top`` most common failure reasons (``status: reason``)."""
    table = failure_reasons(df).head(top)
    fig = Figure(figsize=(8, 0.8 + 0.4 * max(len(table), 1)))
    ax = fig.subplots()
    if table.empty:
        ax.text(0.5, 0.5, "no failures", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        names = [_shorten(f"{s}: {r}", 70) for s, r in zip(table["status"], table["reason"], strict=True)]
        ax.barh(names, table["count"])
        ax.invert_yaxis()
        ax.set(xlabel="candidates", title="failure reasons")
    fig.tight_layout()
    return fig


def split_figure(df: pd.DataFrame) -> Figure:
    """Return grouped bars of usable images per split, one bar per label."""
    table = split_table(df).drop(columns="total")
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    x = np.arange(len(table.columns))
    width = 0.8 / max(len(table), 1)
    for k, (label, row) in enumerate(table.iterrows()):
        bars = ax.bar(x + k * width, row.to_numpy(), width, label=label)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(x + width * (len(table) - 1) / 2, list(table.columns))
    ax.set(ylabel="usable images", title="train / val / test split")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig




def _sized(df: pd.DataFrame) -> pd.DataFrame:
    """Return the usable rows whose width and height are known, with both as int64."""
    ok = df[(df["status"] == Status.OK.value) & df["width"].notna() & df["height"].notna()]
    return ok.astype({"width": "int64", "height": "int64"})


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
