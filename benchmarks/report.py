"""Render ``bench/results.json`` as a short Markdown report: one table per benchmark, figures linked."""

from __future__ import annotations

from pathlib import Path


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k, v in r.items() if not isinstance(v, dict | list)))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _section(name: str, value) -> list[str]:
    out = [f"## {name}", ""]
    if not isinstance(value, dict):
        return out + [f"{_fmt(value)}", ""]
    scalars = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
    if scalars:
        out += [_table([scalars]), ""]
    for key, sub in value.items():
        if isinstance(sub, list) and sub and all(isinstance(r, dict) for r in sub):
            out += [f"### {key}", "", _table(sub), ""]
        elif isinstance(sub, dict) and sub:
            nested = {k: v for k, v in sub.items() if isinstance(v, dict)}
            flat = {k: v for k, v in sub.items() if not isinstance(v, dict | list)}
            out += [f"### {key}", ""]
            if flat:
                out += [_table([flat]), ""]
            if nested:
                out += [_table([{"": k, **v} for k, v in nested.items()]), ""]
    return out


def render(results: dict) -> str:
    """Return the Markdown text of the report for ``results`` (the dict written to results.json)."""
    lines = ["# Benchmark report", "", f"Mode: {results.get('mode')}, started {results.get('started')}, "
             f"machine: {results.get('machine')}", ""]
    for name, entry in results.get("benchmarks", {}).items():
        if "error" in entry:
            lines += [f"## {name}", "", f"**failed**: {entry['error']}", ""]
            continue
        lines += _section(name, entry["result"])
        mode = f", {entry['mode']} mode" if entry.get("mode") else ""
        lines += [f"_{entry['seconds']:.0f} s{mode}_", ""]
    figures = sorted(p.name for p in Path("bench").glob("*.png")) if Path("bench").exists() else []
    if figures:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"
