"""Write the Make targets page (Markdown) from the Makefile itself: the ``## `` texts ``make help`` prints, and the
``VAR ?= default`` options with the comment above them.

    python scripts/gen_make_reference.py               # print it
    python scripts/gen_make_reference.py -o make.md    # write it
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the pattern ``make help`` greps for: ``target: prerequisites ## what it does``
TARGET = re.compile(r"^([a-zA-Z_-]+):.*?## (.*)$")
OPTION = re.compile(r"^([A-Z_]+) \?= ?(.*)$")


def targets(makefile: str) -> list[tuple[str, str]]:
    """Return ``(target, what it does)`` for every target ``make help`` lists, in the Makefile's order."""
    return [(m.group(1), m.group(2).strip()) for line in makefile.splitlines() if (m := TARGET.match(line))]


def options(makefile: str) -> list[tuple[str, str, str]]:
    """Return ``(variable, default, comment)`` for every ``VAR ?= default``; the comment is the ``#`` block right
    above it ('' for the variables after the first one under the same comment)."""
    found: list[tuple[str, str, str]] = []
    comment: list[str] = []
    for line in makefile.splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("# ").strip())
        elif m := OPTION.match(line):
            found.append((m.group(1), m.group(2).strip(), " ".join(comment)))
            comment = []
        else:
            comment = []
    return found


def _cell(text: str) -> str:
    """Return ``text`` safe inside a Markdown table cell (outside code spans: no pipe, HTML or emphasis)."""
    return (" ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*"))


def make_reference(makefile: str | None = None) -> str:
    """Return the Make targets page as Markdown, generated from ``makefile``'s text (default: the repository's)."""
    text = makefile if makefile is not None else (REPO / "Makefile").read_text()
    lines = ["# Make targets", "",
             "Generated from the `Makefile` on every docs build: the same list `make help` prints. Options are "
             "Make variables given on the command line, e.g. `make stylize VIDEO=clip.mp4 STYLE=a.jpg,b.jpg "
             "WIDTH=512`.", "", "| target | what it does |", "|---|---|"]
    lines += [f"| `make {name}` | {_cell(doc)} |" for name, doc in targets(text)]
    lines += ["", "## Options", "", "| variable | default | note |", "|---|---|---|"]
    for name, default, note in options(text):
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{name}` | {shown} | {_cell(note)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the page, or write it to ``-o PATH``; return 0."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--output", type=Path, default=None)
    args = p.parse_args(argv)
    page = make_reference()
    if args.output:
        args.output.write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
