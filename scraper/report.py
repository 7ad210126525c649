"""The end-of-run summary: per label found, usable and rejected by reason; and its one-screen text form."""

from __future__ import annotations

import pandas as pd

from scraper.records import Status


def summarize(df: pd.DataFrame) -> dict:
    """Return ``{label: {"found": n, "ok": n, "rejected": {status: n}, "splits": {split: n}}}`` from manifest rows."""
    out: dict[str, dict] = {}
    if df.empty:
        return out
    for label, group in df.groupby("label", sort=True):
        counts = group["status"].value_counts()
        ok = group[group["status"] == Status.OK.value]
        out[str(label)] = {
            "found": int(len(group)),
            "ok": int(counts.get(Status.OK.value, 0)),
            "rejected": {str(s): int(n) for s, n in counts.items() if s != Status.OK.value},
            "splits": {str(s): int(n) for s, n in ok["split"].value_counts().sort_index().items()},
        }
    return out


def format_summary(per_label: dict, failed_queries: list[dict] | None = None) -> str:
    """Return a few lines for the terminal: one per label, then the queries that were given up."""
    lines = []
    for label, s in per_label.items():
        rejected = ", ".join(f"{k} {v}" for k, v in sorted(s["rejected"].items())) or "none"
        splits = " / ".join(f"{k} {v}" for k, v in s["splits"].items()) or "-"
        lines.append(f"{label:9s} found {s['found']:6d}  ok {s['ok']:6d} ({splits})  rejected: {rejected}")
    for q in failed_queries or []:
        lines.append(f"query given up: {q['label']} {q['query']!r}: {q['error']}")
    return "\n".join(lines)
